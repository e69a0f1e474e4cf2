import type { EntityManager } from '@mikro-orm/postgresql';
import { repoIsLive } from '../db/live-repo-sql.ts';
import { runSql } from '../db/sql.ts';

// The sitemap protocol allows 50,000 URLs per file.
const MAX_URLS = 50_000;

interface Row {
  owner: string;
  slug: string;
  kind: 'repo' | 'issue';
  number: number | null;
  lastmod: Date;
}

/**
 * Public live repos with their open issues: every URL a page (there is no page for one
 * proposal, so proposals are not listed). Raw SQL, so every tombstone condition is written out
 * here (ORM filters do not reach raw queries).
 */
export async function buildSitemap(em: EntityManager, publicUrl: string): Promise<string> {
  const rows = await runSql<Row>(
    em,
    `WITH live AS (
       SELECT repo_id, owner, slug, greatest(updated_at, coalesce(pushed_at, updated_at)) AS lastmod
         FROM musehub_repos r WHERE ${repoIsLive('r')} AND r.visibility = 'public')
     SELECT owner, slug, 'repo' AS kind, NULL::int AS number, lastmod FROM live
     UNION ALL
     SELECT l.owner, l.slug, 'issue', i.number, i.updated_at
       FROM musehub_issues i JOIN live l ON l.repo_id = i.repo_id
      WHERE i.deleted_at IS NULL AND i.state = 'open'
     ORDER BY owner, slug, kind DESC, number
     LIMIT ?`,
    [MAX_URLS],
  );
  // Loaded on the first sitemap request: most workers never build one.
  const { create } = await import('xmlbuilder2');
  const doc = create({ version: '1.0', encoding: 'UTF-8' }).ele('urlset', {
    xmlns: 'http://www.sitemaps.org/schemas/sitemap/0.9',
  });
  for (const r of rows) {
    const path = `${encodeURIComponent(r.owner)}/${encodeURIComponent(r.slug)}`;
    const loc = r.kind === 'repo' ? `${publicUrl}/${path}` : `${publicUrl}/${path}/${r.kind}s/${r.number}`;
    const url = doc.ele('url');
    url.ele('loc').txt(loc);
    url.ele('lastmod').txt(new Date(r.lastmod).toISOString());
  }
  return doc.end({ prettyPrint: false });
}
