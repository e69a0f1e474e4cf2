import fs from 'node:fs';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { addCollaborator, createRepo } from '../helpers/builders.ts';
import { createTestDatabase, sql } from '../helpers/db.ts';
import { startTestGateway } from '../helpers/gateway.ts';
import { makeCommit, makeSnapshot, pushAll } from '../helpers/muse.ts';

let url: string;
beforeAll(async () => {
  url = await createTestDatabase();
});
afterAll(() => undefined);

test('every table that references a repo (directly or through issues/proposals) is in docs/soft-delete.md', async () => {
  const rows = await sql<{ table_name: string }>(
    url,
    `SELECT DISTINCT tc.table_name
       FROM information_schema.table_constraints tc
       JOIN information_schema.constraint_column_usage ccu ON ccu.constraint_name = tc.constraint_name
      WHERE tc.constraint_type = 'FOREIGN KEY'
        AND ccu.table_name IN ('musehub_repos', 'musehub_issues', 'musehub_proposals')
      ORDER BY tc.table_name`,
  );
  const doc = fs.readFileSync('docs/soft-delete.md', 'utf8');
  const documented = new Set([...doc.matchAll(/^\| `(musehub_\w+)` \|/gm)].map((m) => m[1]));
  const missing = rows.map((r) => r.table_name).filter((t) => !documented.has(t));
  expect(missing).toEqual([]);
  expect(rows.length).toBeGreaterThanOrEqual(12);
});

/** The treatment each table gets in docs/soft-delete.md, read from its table. */
function documentedTreatments(): Map<string, string> {
  const doc = fs.readFileSync('docs/soft-delete.md', 'utf8');
  return new Map([...doc.matchAll(/^\| `(musehub_\w+)` \| [^|]+ \| ([^|]+) \|/gm)].map((m) => [m[1]!, m[2]!.trim()]));
}

test('what a delete does to each table is what docs/soft-delete.md says it does', async () => {
  const gw = await startTestGateway({ MUSEHUB_WEBHOOK_ALLOWED_HOSTS: 'loopback' });
  try {
    const alice = await gw.user('alice');
    const bob = await gw.user('bob');
    // A repo with a row in every table that can reference it.
    const repo = await createRepo(gw, alice.token, { name: 'audited', visibility: 'public' });
    const api = `/api/v1/repos/${repo.repoId}`;
    const { snapshot, objects } = makeSnapshot({ 'a.txt': 'audit me' });
    const commit = makeCommit({ snapshotId: snapshot.snapshot_id });
    expect(
      (await pushAll(gw, `/alice/${repo.slug}`, alice.token, { commits: [commit], snapshots: [snapshot], objects }))
        .status,
    ).toBe(200);
    await addCollaborator(gw, alice.token, repo.repoId, 'bob', 'read');
    // A rename leaves its old name behind (musehub_repo_renames).
    expect((await gw.request('PATCH', api, { token: alice.token, json: { name: 'audited now' } })).status).toBe(200);
    for (const [path, json] of [
      ['/webhooks', { url: 'http://127.0.0.1:9/hook', events: ['*'] }],
      ['/issues', { title: 'a bug', labels: ['bug'] }],
      ['/issues/1/comments', { body: 'seen' }],
      ['/proposals', { title: 'a fix', fromBranch: 'fix' }],
      ['/proposals/1/comments', { body: 'ok' }],
      ['/forks', { name: 'audited fork' }],
    ] as const) {
      const res = await gw.request('POST', `${api}${path}`, {
        token: path === '/forks' ? bob.token : alice.token,
        json,
      });
      expect(res.status, path).toBe(201);
    }

    const treatments = documentedTreatments();
    const tables = [...treatments.keys()];
    const columns = async (table: string) =>
      new Set(
        (
          await sql<{ c: string }>(
            gw.databaseUrl,
            `SELECT column_name AS c FROM information_schema.columns WHERE table_name = $1`,
            [table],
          )
        ).map((r) => r.c),
      );
    // The rows that belong to the repo; for musehub_repos, the repo's own row and its fork's.
    const rowsOf = async (table: string) =>
      sql<{ row: string }>(
        gw.databaseUrl,
        table === 'musehub_repos'
          ? `SELECT x::text AS row FROM musehub_repos x WHERE repo_id = $1 OR fork_parent_id = $1 ORDER BY 1`
          : `SELECT x::text AS row FROM ${table} x WHERE repo_id = $1 ORDER BY 1`,
        [repo.repoId],
      ).then((r) => r.map((x) => x.row));
    const before = new Map<string, string[]>();
    for (const t of tables) before.set(t, await rowsOf(t));
    for (const t of tables) {
      if (t !== 'musehub_audit_events') expect(before.get(t)!.length, `${t} has rows to audit`).toBeGreaterThan(0);
    }

    expect((await gw.request('DELETE', api, { token: alice.token })).status).toBe(204);
    const [{ deletion_id }] = (await sql(gw.databaseUrl, 'SELECT deletion_id FROM musehub_repos WHERE repo_id = $1', [
      repo.repoId,
    ])) as [{ deletion_id: string }];

    for (const [table, treatment] of treatments) {
      const after = await rowsOf(table);
      // Never hard-deleted, whatever the treatment.
      expect(after.length, `${table}: rows`).toBeGreaterThanOrEqual(before.get(table)!.length);
      if (treatment === 'hidden through its repo') {
        expect(after, `${table} must not change`).toEqual(before.get(table));
      } else if (treatment === 'kept') {
        if (table === 'musehub_audit_events') expect(after.length).toBe(before.get(table)!.length + 1);
      } else {
        expect(treatment, table).toBe('tombstoned');
        const cols = await columns(table);
        const tombstone = cols.has('deleted_at')
          ? 'deleted_at IS NOT NULL'
          : cols.has('is_deleted')
            ? 'is_deleted'
            : 'NOT active';
        const [counts] = await sql<{ all: number; stamped: number }>(
          gw.databaseUrl,
          `SELECT count(*)::int AS all, count(*) FILTER (WHERE ${tombstone} AND deletion_id = $2)::int AS stamped
             FROM ${table} WHERE repo_id = $1`,
          [repo.repoId, deletion_id],
        );
        expect(counts!.all, `${table}: rows`).toBeGreaterThan(0);
        expect(counts!.stamped, `${table}: every row tombstoned with this delete's id`).toBe(counts!.all);
      }
    }
    // The live fork of the deleted repo stays live.
    const [fork] = await sql<{ deleted_at: Date | null }>(
      gw.databaseUrl,
      'SELECT deleted_at FROM musehub_repos WHERE fork_parent_id = $1',
      [repo.repoId],
    );
    expect(fork!.deleted_at).toBeNull();
    await gw.expectIntegrity();
  } finally {
    await gw.close();
  }
});
