import { afterAll, afterEach, beforeAll, expect, test } from 'vitest';
import { convert } from 'xmlbuilder2';
import { createRepo } from '../helpers/builders.ts';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';

let gw: TestGateway;
beforeAll(async () => {
  gw = await startTestGateway({ MUSEHUB_PUBLIC_URL: 'https://hub.example' });
});
afterAll(() => gw?.close());
// Whatever a test did (deletes, restores, removals), the invariants hold afterwards.
afterEach(() => gw.expectIntegrity());

async function sitemapLocs(): Promise<string[]> {
  const res = await gw.request('GET', '/sitemap.xml');
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^application\/xml/);
  const doc = convert(await res.text(), { format: 'object' }) as {
    urlset: { url?: { loc: string } | { loc: string }[] };
  };
  const urls = doc.urlset.url === undefined ? [] : Array.isArray(doc.urlset.url) ? doc.urlset.url : [doc.urlset.url];
  return urls.map((u) => u.loc);
}

test('public repos with their open issues and proposals, as absolute URLs; nothing private or closed', async () => {
  const alice = await gw.user('alice');
  const pub = await createRepo(gw, alice.token, { name: 'Open <Jam> & "Friends"', visibility: 'public' });
  const priv = await createRepo(gw, alice.token, { name: 'Hidden' });
  const issue = (repoId: string, title: string) =>
    gw.request('POST', `/api/v1/repos/${repoId}/issues`, { token: alice.token, json: { title } });
  await issue(pub.repoId, 'open one <b>');
  await issue(pub.repoId, 'closed one');
  await gw.request('PATCH', `/api/v1/repos/${pub.repoId}/issues/2`, { token: alice.token, json: { state: 'closed' } });
  await issue(priv.repoId, 'private issue');
  await gw.request('POST', `/api/v1/repos/${pub.repoId}/proposals`, {
    token: alice.token,
    json: { title: 'p', fromBranch: 'dev' },
  });

  const locs = await sitemapLocs();
  expect(locs).toEqual([`https://hub.example/alice/${pub.slug}`, `https://hub.example/alice/${pub.slug}/issues/1`]);
  // Regression (issue 23, item 9): every URL listed is a page that opens (proposals/N had none).
  for (const loc of locs) {
    const res = await fetch(loc.replace('https://hub.example', gw.url), { headers: { accept: 'text/html' } });
    expect([loc, res.status]).toEqual([loc, 200]);
  }
});
