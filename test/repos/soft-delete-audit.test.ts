import fs from 'node:fs';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { createTestDatabase, sql } from '../helpers/db.ts';

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
