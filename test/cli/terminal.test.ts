import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { createRepo } from '../helpers/builders.ts';
import { createTestDatabase } from '../helpers/db.ts';
import { startTestGateway } from '../helpers/gateway.ts';
import { makeCommit, makeSnapshot, pushAll } from '../helpers/muse.ts';
import { eventually, exited, waitForLine } from '../helpers/process.ts';

/**
 * What a person at a terminal sees (a real pseudo-terminal, through util-linux's `script`) and a
 * pipe does not: `musehub serve` greets them with where it listens, its database and store, and
 * the command for the first user (on a pipe its output stays JSON lines only); `musehub fsck`
 * shows its progress (never inside --json's one document).
 */
let databaseUrl: string;
let dataDir: string;
beforeAll(async () => {
  databaseUrl = await createTestDatabase();
  dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'musehub-greeting-'));
});
afterAll(() => fs.rm(dataDir, { recursive: true, force: true }));

const shellQuote = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;

/** A command run on a pseudo-terminal: everything it wrote, stdout and stderr together. */
async function onTerminal(args: string[], env: Record<string, string>) {
  const command = [process.execPath, path.resolve('bin/musehub.mjs'), ...args].map(shellQuote).join(' ');
  const child = spawn('script', ['-qfec', command, '/dev/null'], {
    env: { ...process.env, LOG_LEVEL: 'silent', ...env },
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  // 'close', not 'exit': every byte the terminal passed on has been read by then.
  const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
  return { code, out: out.replaceAll('\r\n', '\n') };
}

test.each([1, 2])(
  'on a terminal, %i worker(s): one greeting naming the URL, database, store and first command',
  async (workers) => {
    const command = [process.execPath, path.resolve('bin/musehub.mjs'), 'serve'].map(shellQuote).join(' ');
    const child = spawn('script', ['-qfec', command, '/dev/null'], {
      env: {
        ...process.env,
        DATABASE_URL: databaseUrl,
        MUSEHUB_DATA_DIR: dataDir,
        MUSEHUB_WORKERS: String(workers),
        PORT: '0',
        LOG_LEVEL: 'warn',
      },
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    try {
      // One match over everything up to the greeting's last line (a pty ends lines with \r\n).
      const [out, url] = await waitForLine(
        child,
        /MuseHub is listening on (http:\/\/127\.0\.0\.1:\d+)[\s\S]*API reference: \S+\/docs/,
      );
      expect((await fetch(`${url}/health`)).status).toBe(200);
      expect(out).toContain('database: DATABASE_URL');
      expect(out).toContain(`objects:  files in ${path.join(dataDir, 'objects')}`);
      expect(out).toContain('npx musehub user create <username>');
      expect(out).toContain(`muse remote add origin ${url}/<username>/<repo>`);
      if (workers > 1) expect(out).toContain('(2 worker processes)');
      expect(out.match(/MuseHub is listening/g)).toHaveLength(1);
    } finally {
      child.kill('SIGTERM');
      await exited(child);
    }
  },
);

test('on a pipe: JSON lines only, no greeting; every worker names the embedded database it was given', async () => {
  // The embedded database (no DATABASE_URL), two workers: the primary starts PostgreSQL and hands
  // the workers its URL, and their logs must still say what it is, not the variable it came in.
  const { DATABASE_URL: _, ...inherited } = process.env;
  const embeddedDir = await fs.mkdtemp(path.join(os.tmpdir(), 'musehub-pipe-'));
  await fs.chmod(embeddedDir, 0o711);
  const child = spawn(process.execPath, [path.resolve('bin/musehub.mjs'), 'serve'], {
    env: { ...inherited, MUSEHUB_DATA_DIR: embeddedDir, MUSEHUB_WORKERS: '2', PORT: '0', LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  try {
    const [, url] = await waitForLine(child, /"url":"(http:\/\/[^"]+)"[^\n]*"gateway listening"[^\n]*\n/);
    expect((await fetch(`${url}/health`)).status).toBe(200);
    await eventually(() => (out.match(/"database ready"/g) ?? []).length >= 2);
  } finally {
    child.kill('SIGTERM');
    await exited(child);
    await fs.rm(embeddedDir, { recursive: true, force: true });
  }
  const lines = out
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as { msg: string; database?: string });
  expect(lines.length).toBeGreaterThan(1);
  const ready = lines.filter((l) => l.msg === 'database ready');
  expect(ready.length).toBeGreaterThanOrEqual(2);
  for (const l of ready) expect(l.database).toBe(`embedded PostgreSQL in ${embeddedDir}/pg`);
  expect(out).not.toContain('MuseHub is listening');
});

test('fsck shows its progress on a terminal, and none inside --json', async () => {
  const gw = await startTestGateway();
  try {
    const { token } = await gw.user('alice');
    const repo = await createRepo(gw, token, { name: 'progress', visibility: 'public' });
    const { snapshot, objects } = makeSnapshot({ 'a.txt': 'one', 'b.txt': 'two', 'c.txt': 'three' });
    const commit = makeCommit({ snapshotId: snapshot.snapshot_id });
    expect(
      (await pushAll(gw, `/alice/${repo.slug}`, token, { commits: [commit], snapshots: [snapshot], objects })).status,
    ).toBe(200);
    const env = { DATABASE_URL: gw.databaseUrl, MUSEHUB_DATA_DIR: gw.dataDir };
    const shown = await onTerminal(['fsck'], env);
    expect(shown.code).toBe(0);
    expect(shown.out).toContain('musehub fsck: checked 3 of 3 objects');
    expect(shown.out).toContain('ok: checked');
    const json = await onTerminal(['fsck', '--json'], env);
    expect(json.code).toBe(0);
    expect(json.out).not.toContain('musehub fsck:');
    expect(JSON.parse(json.out).ok).toBe(true);
  } finally {
    await gw.close();
  }
});
