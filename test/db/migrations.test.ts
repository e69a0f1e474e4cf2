import type { MikroORM } from '@mikro-orm/postgresql';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { openOrm } from '../../src/database.ts';
import { migrationsList } from '../../src/migrations/index.ts';
import { createTestDatabase, sql } from '../helpers/db.ts';

let url: string;
let orm: MikroORM;
beforeAll(async () => {
  url = await createTestDatabase({ empty: true });
  orm = await openOrm(url, 2);
});
afterAll(() => orm?.close());

const hubTables = async () =>
  (
    await sql<{ table_name: string }>(
      url,
      `SELECT table_name FROM information_schema.tables
        WHERE table_schema = 'public' AND table_name LIKE 'musehub\\_%' AND table_name <> 'musehub_migrations'
        ORDER BY table_name`,
    )
  ).map((r) => r.table_name);

const EXPECTED = [
  'musehub_audit_events',
  'musehub_branches',
  'musehub_collaborators',
  'musehub_commits',
  'musehub_issue_comments',
  'musehub_issue_labels',
  'musehub_issues',
  'musehub_object_blobs',
  'musehub_objects',
  'musehub_packed_objects',
  'musehub_proposal_comments',
  'musehub_proposals',
  'musehub_repo_renames',
  'musehub_repos',
  'musehub_snapshots',
  'musehub_tokens',
  'musehub_users',
  'musehub_web_sessions',
  'musehub_web_sign_in_links',
  'musehub_webhook_deliveries',
  'musehub_webhooks',
];

test('migrations go up, all the way down, and up again on an empty database', async () => {
  const migrator = orm.getMigrator();
  expect(await hubTables()).toEqual([]);

  await migrator.up();
  expect(await hubTables()).toEqual(EXPECTED);
  expect((await migrator.getPendingMigrations()).length).toBe(0);
  expect(migrationsList.length).toBeGreaterThanOrEqual(2);

  await migrator.down({ to: 0 });
  expect(await hubTables()).toEqual([]);
  expect((await migrator.getExecutedMigrations()).length).toBe(0);

  await migrator.up();
  expect(await hubTables()).toEqual(EXPECTED);
  expect((await migrator.getExecutedMigrations()).map((m) => m.name)).toEqual(migrationsList.map((m) => m.name));
});

test('foreign keys to a repo are ON DELETE RESTRICT, never CASCADE', async () => {
  const rules = await sql<{ table_name: string; delete_rule: string }>(
    url,
    `SELECT tc.table_name, rc.delete_rule
       FROM information_schema.referential_constraints rc
       JOIN information_schema.table_constraints tc ON tc.constraint_name = rc.constraint_name
      WHERE tc.table_name LIKE 'musehub\\_%'`,
  );
  expect(rules.length).toBeGreaterThan(15);
  expect(rules.filter((r) => r.delete_rule !== 'RESTRICT')).toEqual([]);
});

const deletedAtTables = async () =>
  (
    await sql<{ table_name: string }>(
      url,
      `SELECT table_name FROM information_schema.columns WHERE column_name = 'deleted_at' ORDER BY table_name`,
    )
  ).map((c) => c.table_name);

test('upgrading a populated database from the first migration keeps every row; down keeps them too', async () => {
  const migrator = orm.getMigrator();
  await migrator.down({ to: 0 });
  await migrator.up({ to: migrationsList[0]!.name });
  expect(await deletedAtTables()).toEqual(['musehub_issues', 'musehub_repos']);
  const u = '00000000-0000-4000-8000-00000000000a';
  const r = '00000000-0000-4000-8000-00000000000b';
  const i = '00000000-0000-4000-8000-00000000000c';
  const p = '00000000-0000-4000-8000-00000000000d';
  await sql(
    url,
    `INSERT INTO musehub_users (user_id, username) VALUES ($1, 'alice');
     INSERT INTO musehub_repos (repo_id, owner, owner_user_id, slug, name) VALUES ($2, 'alice', $1, 'song', 'Song');
     INSERT INTO musehub_issues (issue_id, repo_id, number, title, author_user_id) VALUES ($3, $2, 1, 'bug', $1);
     INSERT INTO musehub_issue_comments (comment_id, issue_id, repo_id, author_user_id, body) VALUES (gen_random_uuid(), $3, $2, $1, 'c');
     INSERT INTO musehub_proposals (proposal_id, repo_id, number, title, from_branch, to_branch, author_user_id) VALUES ($4, $2, 1, 'p', 'dev', 'main', $1);
     INSERT INTO musehub_proposal_comments (comment_id, proposal_id, repo_id, author_user_id, body) VALUES (gen_random_uuid(), $4, $2, $1, 'pc');
     INSERT INTO musehub_webhooks (webhook_id, repo_id, url, events, secret, created_by) VALUES (gen_random_uuid(), $2, 'http://x/', '{push}', 's', $1);`.replace(
      /\$(\d)/g,
      (_, n) => `'${[u, r, i, p][Number(n) - 1]}'`,
    ),
  );
  const counts = () =>
    sql(
      url,
      `SELECT (SELECT count(*) FROM musehub_repos)::int AS repos, (SELECT count(*) FROM musehub_issues)::int AS issues,
              (SELECT count(*) FROM musehub_issue_comments)::int AS ic, (SELECT count(*) FROM musehub_proposals)::int AS proposals,
              (SELECT count(*) FROM musehub_proposal_comments)::int AS pc, (SELECT count(*) FROM musehub_webhooks)::int AS hooks`,
    );
  const before = await counts();
  await migrator.up({ to: 'Migration20261128020000_soft_delete' });
  expect(await counts()).toEqual(before);
  expect(await deletedAtTables()).toEqual(['musehub_issues', 'musehub_proposals', 'musehub_repos']);
  const [proposal] = await sql(url, 'SELECT deleted_at, deletion_id FROM musehub_proposals');
  expect(proposal).toEqual({ deleted_at: null, deletion_id: null });

  // The guard: a repo row cannot be hard-deleted, and the audit log cannot be edited.
  await expect(sql(url, 'DELETE FROM musehub_repos')).rejects.toThrow(/soft-deleted/);
  await sql(url, `INSERT INTO musehub_audit_events (event_id, action) VALUES (gen_random_uuid(), 'test')`);
  await expect(sql(url, 'UPDATE musehub_audit_events SET action = $1', ['x'])).rejects.toThrow(/append-only/);
  await expect(sql(url, 'DELETE FROM musehub_audit_events')).rejects.toThrow(/append-only/);

  // The name is unique among live repos only.
  await sql(url, `UPDATE musehub_repos SET deleted_at = now() WHERE repo_id = $1`, [r]);
  await sql(
    url,
    `INSERT INTO musehub_repos (repo_id, owner, owner_user_id, slug, name) VALUES (gen_random_uuid(), 'alice', $1, 'song', 'Song 2')`,
    [u],
  );
  await expect(
    sql(
      url,
      `INSERT INTO musehub_repos (repo_id, owner, owner_user_id, slug, name) VALUES (gen_random_uuid(), 'alice', $1, 'song', 'Song 3')`,
      [u],
    ),
  ).rejects.toThrow(/duplicate key/);

  // Down refuses (and changes nothing) while a name is reused: the old schema cannot hold that.
  await expect(migrator.down()).rejects.toThrow();
  expect(await deletedAtTables()).toEqual(['musehub_issues', 'musehub_proposals', 'musehub_repos']);
  await sql(url, `UPDATE musehub_repos SET slug = 'song-2' WHERE name = 'Song 2'`);
  await migrator.down();
  expect(await deletedAtTables()).toEqual(['musehub_issues', 'musehub_repos']);
  expect(await counts()).toEqual([{ ...before[0], repos: 2 }]);
  await migrator.up();
});
