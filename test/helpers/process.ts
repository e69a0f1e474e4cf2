import { type ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';

export { isAlive } from '../../src/process-alive.ts';

/** Polls `check` until it holds or the deadline passes (never a fixed sleep). */
export async function eventually<T>(
  check: () => T | Promise<T>,
  timeoutMs = 15_000,
  everyMs = 25,
): Promise<Exclude<T, false | null | undefined | 0 | ''>> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await check();
      if (v) return v as Exclude<T, false | null | undefined | 0 | ''>;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
  throw new Error(`condition not met within ${timeoutMs} ms${last ? `: ${last}` : ''}`);
}

/** Resolves with the first stdout line matching `pattern` (rejects if the process exits first). */
export function waitForLine(child: ChildProcess, pattern: RegExp, timeoutMs = 60_000): Promise<RegExpExecArray> {
  return new Promise((resolve, reject) => {
    let buffer = '';
    const timer = setTimeout(
      () => reject(new Error(`no line matching ${pattern} within ${timeoutMs} ms: ${buffer}`)),
      timeoutMs,
    );
    const onData = (chunk: Buffer) => {
      buffer += chunk.toString();
      const m = pattern.exec(buffer);
      if (m) {
        clearTimeout(timer);
        child.stdout?.off('data', onData);
        resolve(m);
      }
    };
    child.stdout?.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`process exited (${code}) before printing ${pattern}: ${buffer}`));
    });
  });
}

export const exited = (child: ChildProcess) =>
  new Promise<number | null>((r) =>
    child.exitCode !== null ? r(child.exitCode) : child.once('exit', (code) => r(code)),
  );

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the real `musehub` command (bin/musehub.mjs) with extra environment. */
export async function runCli(args: string[], env: Record<string, string | undefined>): Promise<CliResult> {
  const child = spawn(process.execPath, [path.resolve('bin/musehub.mjs'), ...args], {
    env: { ...process.env, LOG_LEVEL: 'silent', ...env },
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const code = await exited(child);
  return { code, stdout, stderr };
}

/** `musehub serve` as a real process on the given environment; resolves once it logs its URL. */
export async function startServe(
  env: Record<string, string>,
  args: string[] = [],
  ready = /"url":"(http:\/\/[^"]+)"[^\n]*"gateway listening"/,
): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, [path.resolve('bin/musehub.mjs'), 'serve', ...args], {
    env: { ...process.env, PORT: '0', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const url = (await waitForLine(child, ready))[1]!;
  child.stdout?.resume();
  return { child, url };
}
