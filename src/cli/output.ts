/** A failure the CLI reports as `musehub: <detail>` on stderr with a non-zero exit. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
    /** What the gateway answered, when the failure is its answer. */
    readonly http?: { status: number; code?: string | undefined },
  ) {
    super(message);
  }
}

let emitted = false;

/** How a failure is reported: `musehub: …` on stderr, and with `--json` also a JSON object on stdout. */
export function reportFailure(err: unknown, json: boolean): number {
  const message = err instanceof Error ? err.message : String(err);
  process.stderr.write(`musehub: ${message}\n`);
  const exitCode = err instanceof CliError ? err.exitCode : 1;
  // --json promises one document on stdout: a command that printed its result before failing
  // (fsck's report, then exit 1) has said it already.
  if (json && !emitted) {
    const http = err instanceof CliError ? err.http : undefined;
    const body = { error: { message, code: http?.code ?? null, status: http?.status ?? null, exitCode } };
    process.stdout.write(`${JSON.stringify(body, null, 2)}\n`);
  }
  return exitCode;
}

export interface OutputOptions {
  json?: boolean;
}

/** `--json`: exactly one JSON document on stdout; otherwise the short human summary. */
export function emit(opts: OutputOptions, data: unknown, human: string): void {
  emitted = true;
  process.stdout.write(opts.json ? `${JSON.stringify(data, null, 2)}\n` : `${human}\n`);
}
