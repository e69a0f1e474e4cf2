import type { MikroORM } from '@mikro-orm/postgresql';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { openOrm } from '../../src/db/database.ts';
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
  'musehub_branches',
  'musehub_collaborators',
  'musehub_commits',
  'musehub_issue_comments',
  'musehub_issue_labels',
  'musehub_issues',
  'musehub_objects',
  'musehub_proposal_comments',
  'musehub_proposals',
  'musehub_repos',
  'musehub_snapshots',
  'musehub_tokens',
  'musehub_users',
  'musehub_webhook_deliveries',
  'musehub_webhooks',
];

test('migrations go up, all the way down, and up again on an empty database', async () => {
  const migrator = orm.getMigrator();
  expect(await hubTables()).toEqual([]);

  await migrator.up();
  expect(await hubTables()).toEqual(EXPECTED);
  expect((await migrator.getPendingMigrations()).length).toBe(0);

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

test('proposals have no deleted_at yet; repos and issues do', async () => {
  const cols = await sql<{ table_name: string }>(
    url,
    `SELECT table_name FROM information_schema.columns WHERE column_name = 'deleted_at' ORDER BY table_name`,
  );
  expect(cols.map((c) => c.table_name)).toEqual(['musehub_issues', 'musehub_repos']);
});
