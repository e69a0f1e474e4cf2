/** A failure the CLI reports as `musehub: <detail>` on stderr with a non-zero exit. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
  }
}

export interface OutputOptions {
  json?: boolean;
}

/** `--json`: exactly one JSON document on stdout; otherwise the short human summary. */
export function emit(opts: OutputOptions, data: unknown, human: string): void {
  process.stdout.write(opts.json ? `${JSON.stringify(data, null, 2)}\n` : `${human}\n`);
}
