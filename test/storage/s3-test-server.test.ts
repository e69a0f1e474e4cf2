import { execFileSync } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { expect, test } from 'vitest';
import { startS3TestServer } from '../helpers/s3-server.ts';

/** Processes whose command line names a path under `dir` (pgrep -f). */
function processesUnder(dir: string): string[] {
  try {
    return execFileSync('pgrep', ['-af', dir], { encoding: 'utf8' }).split('\n').filter(Boolean);
  } catch {
    return []; // pgrep exits 1 when nothing matches
  }
}

test('a Swift that cannot start in time fails with an error naming Swift and leaves no process or folder behind', async () => {
  const under = await fs.mkdtemp(path.join(os.tmpdir(), 'musehub-s3-fail-'));
  try {
    // No Swift server answers its health check within 1 ms: the start gives up at once.
    await expect(startS3TestServer('never-up', { healthWaitMs: 1, under })).rejects.toThrow(
      /^OpenStack Swift \(the tests' S3 server\) could not start: swift on port \d+ did not answer/,
    );
    expect(processesUnder(under)).toEqual([]);
    expect(await fs.readdir(under)).toEqual([]);
  } finally {
    await fs.rm(under, { recursive: true, force: true });
  }
});
