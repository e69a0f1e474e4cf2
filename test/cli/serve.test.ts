import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { expect, test } from 'vitest';
import { exited, isAlive, runCli, waitForLine } from '../helpers/process.ts';

test('`musehub serve` on the embedded database: health, admin CLI alongside, Ctrl-C leaves no postgres', async () => {
  const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'musehub-serve-'));
  const env = { ...process.env, DATABASE_URL: '', PORT: '0', MUSEHUB_DATA_DIR: dataDir, LOG_LEVEL: 'info' };
  const server = spawn(process.execPath, [path.resolve('bin/musehub.mjs'), 'serve'], { env });
  try {
    const url = (await waitForLine(server, /"url":"(http:\/\/[^"]+)"[^\n]*"gateway listening"/))[1]!;
    expect((await fetch(`${url}/health`)).status).toBe(200);
    const postgresPid = Number((await fs.readFile(path.join(dataDir, 'pg', 'postmaster.pid'), 'utf8')).split('\n')[0]);

    // The admin CLI reaches the same embedded database while the server runs.
    const created = await runCli(['user', 'create', 'alice', '--json'], {
      DATABASE_URL: '',
      MUSEHUB_DATA_DIR: dataDir,
    });
    expect(created.code).toBe(0);
    const { token } = JSON.parse(created.stdout);
    const repos = await fetch(`${url}/api/v1/repos`, { headers: { authorization: `Bearer ${token}` } });
    expect(repos.status).toBe(200);

    server.kill('SIGINT');
    expect(await exited(server)).toBe(0);
    expect(isAlive(postgresPid)).toBe(false);
  } finally {
    if (server.exitCode === null) server.kill('SIGKILL');
    await fs.rm(dataDir, { recursive: true, force: true });
  }
});

test('admin CLI without a running server starts the embedded database for the command and stops it', async () => {
  const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'musehub-cli-'));
  try {
    const env = { DATABASE_URL: '', MUSEHUB_DATA_DIR: dataDir };
    expect((await runCli(['user', 'create', 'bob', '--json'], env)).code).toBe(0);
    const status = await runCli(['migrate', 'status', '--json'], env);
    expect(status.code).toBe(0);
    expect(JSON.parse(status.stdout).pending).toEqual([]);
    const again = await runCli(['user', 'create', 'bob'], env);
    expect(again.code).toBe(1);
    expect(again.stderr).toBe("musehub: user 'bob' already exists\n");
    await expect(fs.access(path.join(dataDir, 'pg', 'postmaster.pid'))).rejects.toThrow();
  } finally {
    await fs.rm(dataDir, { recursive: true, force: true });
  }
});
