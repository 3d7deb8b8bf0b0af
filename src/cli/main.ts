// Entry point of the `pipetel` command line: one file per command under src/cli/, loaded lazily so
// `pipetel db url` does not pay for the OTel SDK. Each command returns its exit code.

export type Command = (args: string[]) => Promise<number>;

const commands: Record<string, { summary: string; load: () => Promise<Command> }> = {
  demo: {
    summary: 'run the bundled example pipeline and print what it stored',
    load: async () => (await import('./demo.js')).demo,
  },
  db: {
    summary: 'start | stop | status | url of the embedded PostgreSQL',
    load: async () => (await import('./db.js')).db,
  },
  migrate: {
    summary: 'apply schema migrations (--status to list them)',
    load: async () => (await import('./migrate.js')).migrate,
  },
  config: {
    summary: 'validate [FILE] | print [--profile NAME]',
    load: async () => (await import('./config.js')).config,
  },
  sync: { summary: 'replay the spool into the database', load: async () => (await import('./sync.js')).sync },
};

function usage(): string {
  const lines = Object.entries(commands).map(([name, c]) => `  ${name.padEnd(9)} ${c.summary}`);
  return `usage: pipetel <command> [options]\n\ncommands:\n${lines.join('\n')}\n`;
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(usage());
    return name ? 0 : 2;
  }
  const command = commands[name];
  if (!command) {
    process.stderr.write(`pipetel: unknown command '${name}'\n\n${usage()}`);
    return 2;
  }
  try {
    return await (await command.load())(rest);
  } catch (error) {
    process.stderr.write(`pipetel ${name}: ${error instanceof Error ? error.message : String(error)}\n`);
    return 1;
  }
}
