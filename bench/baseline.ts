import { type ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';
import { processTree } from './gateway.ts';

const root = path.resolve(import.meta.dirname, '..');

/**
 * bench/baseline-server.ts in its own process (N processes sharing the port when processes > 1),
 * answering `refsBytes` at /refs and, given a folder, its fetch answers at /fetch/<name>.
 */
export async function startBaseline(refsBytes: Buffer, processes: number, answers?: string) {
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      path.join(root, 'bench/baseline-server.ts'),
      refsBytes.toString('base64'),
      String(processes),
      ...(answers ? [answers] : []),
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  try {
    const port = Number((await waitForLines(child, /listening (\d+)/g, processes))[1]);
    return {
      port,
      child,
      tree: processTree(child),
      stop: async () => {
        if (child.exitCode !== null) return;
        child.kill('SIGTERM');
        await new Promise((r) => child.once('exit', r));
      },
    };
  } catch (err) {
    child.kill('SIGTERM');
    throw err;
  }
}

export function waitForLines(child: ChildProcess, pattern: RegExp, count: number): Promise<RegExpExecArray> {
  return new Promise((resolve, reject) => {
    let buf = '';
    child.stdout!.on('data', (d) => {
      buf += d;
      const matches = [...buf.matchAll(pattern)];
      if (matches.length >= count) resolve(matches[0]!);
    });
    child.once('exit', (code) => reject(new Error(`exited ${code}: ${buf}`)));
  });
}
