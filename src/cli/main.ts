// Entry point of the `pipetel` command line: one file per command under src/cli/, loaded lazily so
// `pipetel db url` does not pay for the OTel SDK. Each command returns its exit code: 0 success,
// 2 bad usage (an unknown flag, a missing value) or bad configuration, 1 failure.

import { ConfigError } from '../config/ConfigError.js';

export type Command = (args: string[]) => Promise<number>;

interface CommandEntry {
  summary: string;
  /** For commands without a help of their own: printed by --help and after a usage error. */
  usage?: string;
  load: () => Promise<Command>;
}

const commands: Record<string, CommandEntry> = {
  demo: {
    summary: 'run the bundled example pipeline and print what it stored',
    usage: 'usage: pipetel demo [--items N] [--experiment-id ID]\n',
    load: async () => (await import('./demo.js')).demo,
  },
  db: {
    summary: 'start | stop | status | url of the embedded PostgreSQL',
    load: async () => (await import('./db.js')).db,
  },
  migrate: {
    summary: 'apply schema migrations (--status to list them; --partitioning to convert the tables)',
    usage: 'usage: pipetel migrate [--status] [--partitioning daily|monthly]\n',
    load: async () => (await import('./migrate.js')).migrate,
  },
  config: {
    summary: 'validate [FILE] | print [FILE] [--profile NAME] [--json]',
    load: async () => (await import('./config.js')).config,
  },
  runs: {
    summary: 'list runs, newest first',
    usage:
      'usage: pipetel runs [--status running|succeeded|failed] [--since 2h|7d|DATE] [--limit N] [--json]\n',
    load: async () => (await import('./runs.js')).runs,
  },
  show: {
    summary: 'one run: stage tree with durations, CPU and peak RSS, progress, errors, metrics',
    usage:
      'usage: pipetel show [RUN] [--json]   (RUN: an experiment id or a unique prefix; default the latest run)\n',
    load: async () => (await import('./runs.js')).show,
  },
  logs: {
    summary: "a run's log lines; --follow prints new ones live",
    usage:
      'usage: pipetel logs [RUN] [--level L] [--stage S] [--worker W] [--search TEXT] [--since 30m|DATE] [--limit N] [--follow] [--json]\n' +
      '  --level shows L and above; --worker one worker of a gateway fleet (host:pid, as its lines show);\n' +
      '  --search is full text (words, "a phrase", -excluded, or)\n',
    load: async () => (await import('./logs.js')).logs,
  },
  progress: {
    summary: "a run's progress bars with rate and ETA; --watch redraws them live",
    usage: 'usage: pipetel progress [RUN] [--watch] [--json]\n',
    load: async () => (await import('./progress.js')).progress,
  },
  stats: {
    summary: 'the monitoring system itself: logs/min, batch sizes, drops, write latency, table sizes',
    usage: 'usage: pipetel stats [--window MINUTES] [--json]\n',
    load: async () => (await import('./stats.js')).stats,
  },
  export: {
    summary: "write a run's logs (or spans, metrics, progress) as jsonl or csv",
    usage:
      'usage: pipetel export [RUN] [--format jsonl|csv] [--table logs|spans|metrics|progress] [--output FILE]\n',
    load: async () => (await import('./export.js')).exportRun,
  },
  gateway: {
    summary: 'receive OTLP (HTTP protobuf/JSON, gRPC) from workers or a Collector into the database',
    usage:
      'usage: pipetel gateway [--host 127.0.0.1] [--port 4318] [--grpc-port 4317|none] [--token T] [--max-body-mb 16]\n',
    load: async () => (await import('./gateway.js')).gateway,
  },
  ui: {
    summary: 'the dashboard: runs, stage timeline, live progress, log search (read-only)',
    usage:
      'usage: pipetel ui [--host 127.0.0.1] [--port 7070] [--token T]   (a token is required off loopback)\n',
    load: async () => (await import('./ui.js')).ui,
  },
  maintain: {
    summary: 'premake partitions, apply retention, archive metrics, update statistics (--dry-run)',
    usage: 'usage: pipetel maintain [--dry-run] [--json]\n',
    load: async () => (await import('./maintain.js')).maintain,
  },
  doctor: {
    summary: 'check the database, schema, embedded server and spool; exit 1 when something is wrong',
    usage: 'usage: pipetel doctor [--json]\n',
    load: async () => (await import('./doctor.js')).doctor,
  },
  sync: {
    summary: 'replay the spool (and, with database logging off, the log file) into the database',
    usage: 'usage: pipetel sync [--any-database] [--discard HOST:PORT/DATABASE]\n',
    load: async () => (await import('./sync.js')).sync,
  },
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
  const wantsHelp = rest.includes('--help') || rest.includes('-h');
  if (command.usage && wantsHelp) {
    process.stdout.write(command.usage);
    return 0;
  }
  try {
    // Commands with subcommands (config, db) print their own usage, for `--help` anywhere after
    // the command as well: `pipetel db status --help` is a question, not a bad argument.
    return await (await command.load())(wantsHelp ? ['--help'] : rest);
  } catch (error) {
    if (isUsageError(error)) {
      process.stderr.write(`pipetel ${name}: ${error.message}\n${command.usage ?? ''}`);
      return 2;
    }
    if (error instanceof ConfigError) {
      for (const problem of error.problems) process.stderr.write(`${problem.message}\n`);
      return 2;
    }
    process.stderr.write(`pipetel ${name}: ${error instanceof Error ? error.message : String(error)}\n`);
    return 1;
  }
}

/** node:util parseArgs' errors: an unknown option, a missing value, an unexpected argument. */
function isUsageError(error: unknown): error is Error {
  const code = (error as { code?: unknown } | null)?.code;
  return error instanceof Error && typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS_');
}
