import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterEach, expect, test } from 'vitest';
import { startEmbeddedPostgres } from '../../src/db/embedded-postgres.ts';
import { exited, isAlive, waitForLine } from '../helpers/process.ts';

const dirs: string[] = [];
const tempDir = async () => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'musehub-embedded-'));
  dirs.push(dir);
  return dir;
};
afterEach(async () => {
  for (const dir of dirs.splice(0)) await fs.rm(dir, { recursive: true, force: true });
});

async function query(url: string, text: string) {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query(text)).rows;
  } finally {
    await client.end();
  }
}

const postmasterPid = async (dir: string) =>
  Number((await fs.readFile(path.join(dir, 'pg', 'postmaster.pid'), 'utf8')).split('\n')[0]);

test('initialises once, keeps its data across restarts, and leaves no process behind', async () => {
  const dir = await tempDir();
  const first = await startEmbeddedPostgres({ dir });
  expect(first.owned).toBe(true);
  await query(first.url, 'CREATE TABLE kept (v text); INSERT INTO kept VALUES ($$still here$$)');
  const pid = await postmasterPid(dir);
  await first.stop();
  expect(isAlive(pid)).toBe(false);

  const second = await startEmbeddedPostgres({ dir });
  try {
    expect(await query(second.url, 'SELECT v FROM kept')).toEqual([{ v: 'still here' }]);
    // Loopback only (no other address, no unix socket), and a password is required.
    expect(new URL(second.url).hostname).toBe('127.0.0.1');
    expect(await query(second.url, 'SHOW listen_addresses')).toEqual([{ listen_addresses: '127.0.0.1' }]);
    expect(await query(second.url, 'SHOW unix_socket_directories')).toEqual([{ unix_socket_directories: '' }]);
    expect(await query(second.url, 'SHOW password_encryption')).toEqual([{ password_encryption: 'scram-sha-256' }]);
    const noPassword = new URL(second.url);
    noPassword.password = '';
    await expect(query(noPassword.toString(), 'SELECT 1')).rejects.toThrow();
  } finally {
    await second.stop();
  }
});

test('a cluster orphaned by a killed process is stopped and replaced on the next start', async () => {
  const dir = await tempDir();
  const child = spawn(process.execPath, ['--import', 'tsx', path.resolve('test/helpers/run-embedded.ts'), dir]);
  const orphanPid = Number((await waitForLine(child, /ready (\d+)/))[1]);
  child.kill('SIGKILL');
  await exited(child);
  expect(isAlive(orphanPid)).toBe(true); // the postmaster outlived its parent

  const next = await startEmbeddedPostgres({ dir });
  try {
    expect(isAlive(orphanPid)).toBe(false);
    expect(await query(next.url, 'SELECT 1 AS ok')).toEqual([{ ok: 1 }]);
  } finally {
    await next.stop();
  }
});
