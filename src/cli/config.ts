// `pipetel config validate [FILE]` and `pipetel config print [FILE] [--profile NAME] [--json]`:
// check the settings exactly as register() would load them (file + environment), or show the
// effective result with secrets hidden. Exit codes: 0 ok, 2 invalid configuration or usage.

import { parseArgs } from 'node:util';
import { stringify } from 'yaml';
import {
  type Config,
  ConfigError,
  ineffectiveSettings,
  type LoadConfigOptions,
  loadConfig,
  type PartialSettings,
} from '../config/index.js';

const USAGE = `usage: pipetel config validate [FILE]
       pipetel config print [FILE] [--profile NAME] [--json]

  validate   check the configuration register() would load (FILE, else PIPETEL_CONFIG,
             ./pipetel.yml or ./config.yml (or .yaml), plus the environment); one line per problem
  print      the effective configuration as YAML (or --json), secrets hidden
`;

/** Where a command writes; process by default, a capture in tests (the test runner owns process.stdout). */
export interface CommandOutput {
  stdout: { write(text: string): unknown };
  stderr: { write(text: string): unknown };
}

export const config = async (args: string[], io: CommandOutput = process): Promise<number> => {
  const [subcommand, ...rest] = args;
  try {
    switch (subcommand) {
      case 'validate':
        return validate(rest, io);
      case 'print':
        return print(rest, io);
      case 'help':
      case '--help':
      case '-h':
        io.stdout.write(USAGE);
        return 0;
      default:
        io.stderr.write(
          `${subcommand ? `pipetel config: unknown subcommand '${subcommand}'\n` : ''}${USAGE}`,
        );
        return 2;
    }
  } catch (error) {
    if (error instanceof ConfigError) {
      for (const problem of error.problems) io.stderr.write(`${problem.message}\n`);
      return 2;
    }
    if (isUsageError(error)) {
      io.stderr.write(`pipetel config: ${error.message}\n${USAGE}`);
      return 2;
    }
    throw error;
  }
};

function validate(args: string[], io: CommandOutput): number {
  const { positionals } = parseArgs({ args, options: {}, allowPositionals: true, strict: true });
  if (positionals.length > 1) throw new UsageError('validate takes at most one FILE');
  const loaded = loadConfig(fileOption(positionals[0]));
  io.stdout.write(`valid: ${loaded.sources.join(' ← ')}\n`);
  // Valid, but a setting that changes nothing is said so, never silently ignored.
  for (const { key, reason } of ineffectiveSettings(loaded.values))
    io.stderr.write(`note: ${key} has no effect: ${reason}\n`);
  return 0;
}

function print(args: string[], io: CommandOutput): number {
  const { values, positionals } = parseArgs({
    args,
    options: { profile: { type: 'string' }, json: { type: 'boolean', default: false } },
    allowPositionals: true,
    strict: true,
  });
  if (positionals.length > 1) throw new UsageError('print takes at most one FILE');
  const options = fileOption(positionals[0]);
  // --profile is the highest source, so it wins over a profile named in the file or environment.
  // The name is checked by loadConfig like any other value (a typo exits 2 naming `profile` and
  // the flag).
  if (values.profile !== undefined)
    options.layers = [{ source: PROFILE_FLAG, settings: { profile: values.profile } as PartialSettings }];
  const loaded = loadConfig(options);
  io.stdout.write(values.json ? `${JSON.stringify(loaded.redacted(), null, 2)}\n` : asYaml(loaded));
  return 0;
}

function asYaml(loaded: Config): string {
  const header = [
    '# pipetel effective configuration (secrets hidden)',
    `# sources: ${loaded.sources.join(' ← ')}`,
    `# home: ${loaded.home}`,
  ];
  return `${header.join('\n')}\n${stringify(loaded.redacted())}`;
}

function fileOption(file: string | undefined): LoadConfigOptions {
  return file === undefined ? {} : { configFile: file };
}

/** How a value given as `--profile NAME` is named: like `env PIPETEL_PROFILE` or `option serviceName`. */
const PROFILE_FLAG = 'flag --profile';

class UsageError extends Error {}

/** Our own usage errors and node:util parseArgs' (unknown option, missing value, …). */
function isUsageError(error: unknown): error is Error {
  if (error instanceof UsageError) return true;
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS_');
}
