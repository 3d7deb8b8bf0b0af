// The one error type of the configuration module. It carries every problem found (a bad file is
// reported whole, not one fix-and-rerun at a time), each naming its dotted key.

/** One thing wrong with the settings. `message` is a single line that starts with `key`. */
export interface ConfigProblem {
  /** Dotted key, e.g. `logging.database.batch_size` (or the option/variable naming a missing file). */
  key: string;
  expected: string;
  got: string;
  /** The closest valid key (or value) when the input looks like a typo. */
  suggestion?: string;
  message: string;
}

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  /** Dotted key of the first problem. */
  readonly key: string;
  readonly problems: ConfigProblem[];

  constructor(problems: ConfigProblem[]) {
    super(problems.map((problem) => problem.message).join('\n') || 'invalid configuration');
    this.problems = problems;
    this.key = problems[0]?.key ?? '';
  }
}

interface ProblemInput {
  key: string;
  expected: string;
  got: string;
  suggestion?: string;
  /** Where the value came from: `/x/pipetel.yml:12`, `env PIPETEL_LOG_LEVEL`, `config.set`. */
  where?: string;
  /** Replaces the standard "expected …, got …" wording. */
  text?: string;
}

/** Builds a problem with the standard one-line message: `key: expected X, got Y (did you mean Z?) [where]`. */
export function problem(input: ProblemInput): ConfigProblem {
  const body = input.text ?? `expected ${input.expected}, got ${input.got}`;
  const hint = input.suggestion ? ` (did you mean ${input.suggestion}?)` : '';
  const where = input.where ? ` [${input.where}]` : '';
  const message = `${input.key}: ${body}${hint}${where}`.replace(/[\r\n]+/g, ' ');
  const result: ConfigProblem = { key: input.key, expected: input.expected, got: input.got, message };
  if (input.suggestion) result.suggestion = input.suggestion;
  return result;
}
