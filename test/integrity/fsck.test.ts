import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { CHECK_NAMES, checkIntegrity } from '../../src/integrity/fsck.ts';
import type { FsObjectStore } from '../../src/storage/fs-object-store.ts';
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
  const api = `/api/v1/repos/${repo.repoId}`;
  for (const [path, json] of [
    ['/issues', { title: 'a bug' }],
    ['/issues/1/comments', { body: 'seen it' }],
    ['/proposals', { title: 'a fix', fromBranch: 'fix' }],
    ['/proposals/1/comments', { body: 'looks good' }],
  ] as const) {
    expect((await gw.request('POST', `${api}${path}`, { token, json })).status, path).toBe(201);
  }
  return { repo, commit, objects };
}

/** Where an object's bytes sit on disk: a range of a pack (or a loose file). */
const locate = (id: string) => (gw.store as FsObjectStore).locate(id);
/** Writes over an object's bytes in place, behind the store's back. */
async function overwrite(id: string, bytes: Buffer) {
  const r = await locate(id);
  expect(bytes.length).toBe(r.length);
  const file = await fs.open(r.file, 'r+');
  try {
    await file.write(bytes, 0, bytes.length, r.offset);
  } finally {
    await file.close();
  }
}
const tampered = (content: Buffer) => Buffer.alloc(content.length, 'tampered');
/** The files a removal broke, to put back as they were. */
const removed = new Map<string, Buffer>();
const run = (text: string, params: unknown[]) => sql(gw.databaseUrl, text, params).then(() => undefined);
const KINDS = [
  ['issue', 'musehub_issues', 'deleted_at = now()', 'deleted_at = NULL'],
  ['proposal', 'musehub_proposals', 'deleted_at = now()', 'deleted_at = NULL'],
  ['issue comment', 'musehub_issue_comments', 'is_deleted = true', 'is_deleted = false'],
  ['proposal comment', 'musehub_proposal_comments', 'is_deleted = true', 'is_deleted = false'],
] as const;

type Pushed = Awaited<ReturnType<typeof pushedRepo>>;
const GONE_REPO = '0badc0de-0000-4000-8000-000000000000';
/** Every invariant fsck checks: how to break it behind the services' back, and how to mend it. */
const BREAKS: {
  checks: string[];
  mentions: (p: Pushed) => string;
  breakIt: (p: Pushed) => Promise<void>;
  mend: (p: Pushed) => Promise<void>;
}[] = [
  {
    // A row left under a repo id no repo has (only possible with the foreign keys switched off,
    // as a restore from a partial dump or a hand-run DELETE would leave it).
    checks: ['no row under a purged repo'],
    mentions: () => `musehub_objects row under missing repo ${GONE_REPO}`,
    breakIt: (p) =>
      sql(
        gw.databaseUrl,
        `SET session_replication_role = replica;
         INSERT INTO musehub_objects (repo_id, object_id, size) VALUES ('${GONE_REPO}', '${p.objects[0]!.object_id}', 1)`,
      ).then(() => undefined),
    mend: () => run('DELETE FROM musehub_objects WHERE repo_id = $1', [GONE_REPO]),
  },
  {
    checks: ['branch head is a stored commit of its repo'],
    mentions: () => `-> ${'f'.repeat(64)}`,
    breakIt: (p) =>
      run('UPDATE musehub_branches SET head_commit_id = $1 WHERE repo_id = $2', ['f'.repeat(64), p.repo.repoId]),
    mend: (p) =>
      run('UPDATE musehub_branches SET head_commit_id = $1 WHERE repo_id = $2', [p.commit.commit_id, p.repo.repoId]),
  },
  {
    checks: ["commit's snapshot exists"],
    mentions: () => `-> snapshot ${'e'.repeat(64)}`,
    breakIt: (p) =>
      run('UPDATE musehub_commits SET snapshot_id = $1 WHERE repo_id = $2', ['e'.repeat(64), p.repo.repoId]),
    mend: (p) =>
      run(
        'UPDATE musehub_commits c SET snapshot_id = s.snapshot_id FROM musehub_snapshots s WHERE c.repo_id = $1 AND s.repo_id = $1',
        [p.repo.repoId],
      ),
  },
  {
    checks: ["commit's parents exist"],
    mentions: () => `-> parent ${'d'.repeat(64)}`,
    breakIt: (p) =>
      run('UPDATE musehub_commits SET parent2_commit_id = $1 WHERE repo_id = $2', ['d'.repeat(64), p.repo.repoId]),
    mend: (p) => run('UPDATE musehub_commits SET parent2_commit_id = NULL WHERE repo_id = $1', [p.repo.repoId]),
  },
  {
    checks: ['object named by a snapshot is held by the repo'],
    mentions: (p) => `-> object ${p.objects[0]!.object_id}`,
    breakIt: (p) =>
      run('DELETE FROM musehub_objects WHERE repo_id = $1 AND object_id = $2', [
        p.repo.repoId,
        p.objects[0]!.object_id,
      ]),
    mend: (p) =>
      run('INSERT INTO musehub_objects (repo_id, object_id, size) VALUES ($1, $2, $3)', [
        p.repo.repoId,
        p.objects[0]!.object_id,
        p.objects[0]!.content.length,
      ]),
  },
  {
    checks: ['object bytes are stored'],
    mentions: (p) => `object ${p.objects[0]!.object_id} is missing`,
    // The pack loses this object's bytes and everything after them.
    breakIt: async (p) => {
      const r = await locate(p.objects[0]!.object_id);
      removed.set(r.file, await fs.readFile(r.file));
      await fs.truncate(r.file, r.offset);
    },
    mend: async () => {
      for (const [file, bytes] of removed) await fs.writeFile(file, bytes);
      removed.clear();
    },
  },
  {
    checks: ['object bytes hash to their id'],
    mentions: (p) => `object ${p.objects[0]!.object_id} hashes to`,
    breakIt: (p) => overwrite(p.objects[0]!.object_id, tampered(p.objects[0]!.content)),
    mend: (p) => overwrite(p.objects[0]!.object_id, p.objects[0]!.content),
  },
  {
    checks: ['object size matches its row'],
    mentions: (p) => `object ${p.objects[0]!.object_id} is ${p.objects[0]!.content.length} bytes, its row says`,
    breakIt: (p) =>
      run('UPDATE musehub_objects SET size = size + 1 WHERE repo_id = $1 AND object_id = $2', [
        p.repo.repoId,
        p.objects[0]!.object_id,
      ]),
    mend: (p) =>
      run('UPDATE musehub_objects SET size = size - 1 WHERE repo_id = $1 AND object_id = $2', [
        p.repo.repoId,
        p.objects[0]!.object_id,
      ]),
  },
  {
    // The repo deleted without its cascade: everything under it is still live.
    checks: KINDS.map(([what]) => `no live ${what} in a deleted repo`),
    mentions: (p) => `in deleted repo ${p.repo.repoId}`,
    breakIt: (p) =>
      run('UPDATE musehub_repos SET deleted_at = now(), deletion_id = gen_random_uuid() WHERE repo_id = $1', [
        p.repo.repoId,
      ]),
    mend: (p) =>
      run('UPDATE musehub_repos SET deleted_at = NULL, deletion_id = NULL WHERE repo_id = $1', [p.repo.repoId]),
  },
  {
    // A private repo deleted without taking its private fork along.
    checks: ['no live private fork of a deleted private repo'],
    mentions: (p) => `forked from deleted alice/${p.repo.slug}`,
    breakIt: async (p) => {
      await run(
        `INSERT INTO musehub_repos (repo_id, owner, owner_user_id, slug, name, visibility, fork_parent_id)
         SELECT gen_random_uuid(), owner, owner_user_id, slug || '-fork', name, 'private', repo_id
           FROM musehub_repos WHERE repo_id = $1`,
        [p.repo.repoId],
      );
      await run(
        `UPDATE musehub_repos SET visibility = 'private', deleted_at = now(), deletion_id = gen_random_uuid() WHERE repo_id = $1`,
        [p.repo.repoId],
      );
    },
    mend: async (p) => {
      await run(
        `UPDATE musehub_repos SET deleted_at = now(), deletion_id = gen_random_uuid() WHERE fork_parent_id = $1`,
        [p.repo.repoId],
      );
      await run(
        `UPDATE musehub_repos SET visibility = 'public', deleted_at = NULL, deletion_id = NULL WHERE repo_id = $1`,
        [p.repo.repoId],
      );
    },
  },
  {
    // Tombstones that no delete of their (live) repo made.
    checks: KINDS.map(([what]) => `tombstoned ${what}'s deletion_id matches its repo's`),
    mentions: () => ', repo live',
    breakIt: async (p) => {
      for (const [, table, tombstone] of KINDS) {
        await run(`UPDATE ${table} SET ${tombstone}, deletion_id = gen_random_uuid() WHERE repo_id = $1`, [
          p.repo.repoId,
        ]);
      }
    },
    mend: async (p) => {
      for (const [, table, , live] of KINDS) {
        await run(`UPDATE ${table} SET ${live}, deletion_id = NULL WHERE repo_id = $1`, [p.repo.repoId]);
      }
    },
  },
];

test.each(BREAKS.map((b) => [b.checks.join('; '), b] as const))('a broken invariant is reported: %s', async (_, b) => {
  const pushed = await pushedRepo(`broken ${randomBytes(3).toString('hex')}`);
  await gw.expectIntegrity();
  await b.breakIt(pushed);
  const report = await check();
  expect(report.ok).toBe(false);
  for (const name of b.checks) {
    const found = report.problems.filter((p) => p.check === name);
    expect(found.length, name).toBeGreaterThan(0);
    expect(
      found.some((p) => p.detail.includes(b.mentions(pushed))),
      `${name}: ${JSON.stringify(found)}`,
    ).toBe(true);
  }
  await b.mend(pushed);
  await gw.expectIntegrity();
});

test('the list above covers every check fsck makes', () => {
  expect(CHECK_NAMES.length).toBe(17);
  expect(new Set(BREAKS.flatMap((b) => b.checks))).toEqual(new Set(CHECK_NAMES));
});

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
  await overwrite(victim, tampered(objects[0]!.content));
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
  await overwrite(victim, objects[0]!.content);
  await gw.expectIntegrity();
});

test('bytes no row names after a purge are reported as reclaimable, not as a problem, until gc removes them', async () => {
  const { repo, objects } = await pushedRepo('purged for good');
  const bytes = objects.reduce((n, o) => n + o.content.length, 0);
  const before = (await checkIntegrity(gw.em(), gw.store, { graceMs: 0 })).reclaimable;
  expect((await gw.request('DELETE', `/api/v1/repos/${repo.repoId}`, { token })).status).toBe(204);
  expect((await gw.request('POST', `/api/v1/user/deleted-repos/alice/${repo.slug}/purge`, { token })).status).toBe(200);
  const after = await checkIntegrity(gw.em(), gw.store, { graceMs: 0 });
  expect(after.ok).toBe(true);
  expect(after.reclaimable).toEqual({ objects: before.objects + objects.length, bytes: before.bytes + bytes });
  // Within the default grace period the same bytes are young: not yet reclaimable.
  expect((await check()).reclaimable).toEqual({ objects: 0, bytes: 0 });
});
