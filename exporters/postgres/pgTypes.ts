// The node-postgres objects a user may hand to pipetel (a pool to share, a client to migrate
// with), described by the members pipetel relies on, so that pipetel's declarations name no type
// of @types/pg: a TypeScript user needs @types/pg only when their own code uses pg. A `pg.Pool`
// is a PgPool and a `pg.Client` a PgClient; pipetel uses them as the node-postgres objects they
// are (pool.ts's sharedPool()), so pass those, not look-alikes.

/** What a query resolves with: node-postgres's QueryResult, as far as pipetel reads it. */
export interface PgQueryResult {
  rows: unknown[];
  rowCount: number | null;
}

/** A node-postgres client, `new pg.Client(...)`. */
export interface PgClient {
  query(text: string, values?: unknown[]): Promise<PgQueryResult>;
  connect(): Promise<unknown>;
  end(): Promise<void>;
}

/** A client checked out of a PgPool (node-postgres's PoolClient). */
export interface PgPoolClient extends PgClient {
  release(error?: Error | boolean): void;
}

/** A node-postgres pool, `new pg.Pool(...)`. */
export interface PgPool {
  query(text: string, values?: unknown[]): Promise<PgQueryResult>;
  connect(): Promise<PgPoolClient>;
  end(): Promise<void>;
  readonly totalCount: number;
  readonly idleCount: number;
  readonly waitingCount: number;
}
