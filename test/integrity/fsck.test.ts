import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { checkIntegrity } from '../../src/integrity/fsck.ts';
import { createRepo } from '../helpers/builders.ts';
import { sql } from '../helpers/db.ts';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { makeCommit, makeSnapshot, pushAll } from '../helpers/muse.ts';
import { runCli } from '../helpers/process.ts';

let gw: TestGateway;
let token: string;
beforeAll(async () => {
  gw = await startTestGateway();
  ({ token } = await gw.user('alice'));
});
afterAll(() => gw?.close());

const check = () => checkIntegrity(gw.em(), gw.store);
const fsck = (...args: string[]) =>
  runCli(['fsck', ...args], { DATABASE_URL: gw.databaseUrl, MUSEHUB_DATA_DIR: gw.dataDir });

async function pushedRepo(name: string) {
  const repo = await createRepo(gw, token, { name, visibility: 'public' });
  const { snapshot, objects } = makeSnapshot({ 'take.wav': randomBytes(2000), 'lyrics.txt': `words of ${name}` });
  const commit = makeCommit({ snapshotId: snapshot.snapshot_id });
  expect(
    (await pushAll(gw, `/alice/${repo.slug}`, token, { commits: [commit], snapshots: [snapshot], objects })).status,
  ).toBe(200);
  await gw.request('POST', `/api/v1/repos/${repo.repoId}/issues`, { token, json: { title: 'a bug' } });
  return { repo, commit, objects };
}

test('a healthy hub passes, before and after a delete and a restore; the CLI agrees', async () => {
  const { repo } = await pushedRepo('healthy');
  await gw.expectIntegrity();
  expect((await gw.request('DELETE', `/api/v1/repos/${repo.repoId}`, { token })).status).toBe(204);
  await gw.expectIntegrity();
  expect((await gw.request('POST', `/api/v1/repos/${repo.repoId}/restore`, { token })).status).toBe(200);
  const report = await check();
  expect(report.ok).toBe(true);
  expect(report.checked.objectsHashed).toBeGreaterThanOrEqual(2);
  const cli = await fsck('--json');
  expect(cli.code).toBe(0);
  expect(JSON.parse(cli.stdout).ok).toBe(true);
});

test('each broken invariant is reported, and the CLI exits 1 naming it', async () => {
  const { repo, commit, objects } = await pushedRepo('broken');
  // A branch head that names no stored commit.
  await sql(gw.databaseUrl, `UPDATE musehub_branches SET head_commit_id = $1 WHERE repo_id = $2`, [
    'f'.repeat(64),
    repo.repoId,
  ]);
  // Object bytes that no longer hash to their id.
  const victim = objects[0]!.object_id;
  await fs.writeFile(path.join(gw.dataDir, 'objects', victim.slice(0, 2), victim.slice(2)), 'tampered');
  // A live issue under a deleted repo, written behind the delete service's back.
  await sql(
    gw.databaseUrl,
    `UPDATE musehub_repos SET deleted_at = now(), deletion_id = gen_random_uuid() WHERE repo_id = $1`,
    [repo.repoId],
  );

  const report = await check();
  const checks = new Set(report.problems.map((p) => p.check));
  expect(checks).toContain('object bytes hash to their id');
  expect(checks).toContain('no live issue in a deleted repo');
  // The repo is deleted now, so its branch head is no longer a live one to check; revive to see it.
  await sql(gw.databaseUrl, `UPDATE musehub_repos SET deleted_at = NULL, deletion_id = NULL WHERE repo_id = $1`, [
    repo.repoId,
  ]);
  const again = await check();
  expect(again.problems.map((p) => p.check)).toContain('branch head is a stored commit of its repo');
  expect(again.problems.some((p) => p.detail.includes(`-> ${'f'.repeat(64)}`))).toBe(true);

  const cli = await fsck();
  expect(cli.code).toBe(1);
  expect(cli.stdout).toContain('object bytes hash to their id');
  expect(cli.stderr).toBe('musehub: integrity check failed\n');
  const quick = await fsck('--no-hash', '--json');
  expect(JSON.parse(quick.stdout).checked.objectsHashed).toBe(0);

  // Put it right so the other checks in this file see a healthy hub.
  await sql(gw.databaseUrl, `UPDATE musehub_branches SET head_commit_id = $1 WHERE repo_id = $2`, [
    commit.commit_id,
    repo.repoId,
  ]);
  await fs.writeFile(path.join(gw.dataDir, 'objects', victim.slice(0, 2), victim.slice(2)), objects[0]!.content);
  await gw.expectIntegrity();
});
