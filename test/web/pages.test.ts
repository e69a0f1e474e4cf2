import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { revokeToken } from '../../src/users/index.ts';
import { createSignInLink } from '../../src/web/session.service.ts';
import { addCollaborator, createRepo, type RepoBody } from '../helpers/builders.ts';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { makeCommit, makeSnapshot, pushAll, wire } from '../helpers/muse.ts';
import { csrfOf, page, postForm, signIn, type WebSession } from '../helpers/web.ts';

/**
 * The pages over plain HTTP (the browser suite, test/browser/pages.test.ts, drives the same pages
 * in chromium): sign-in and sessions, CSRF, what each page shows and refuses, escaping, headers.
 */
type U = { token: string; userId: string; username: string };
let gw: TestGateway;
let alice: U;
let bob: U;
let carol: U;
let song: RepoBody;
let aliceWeb: WebSession;

const XSS = '<img src=x onerror=alert(1)>';

beforeAll(async () => {
  gw = await startTestGateway();
  alice = await gw.user('alice');
  bob = await gw.user('bob');
  carol = await gw.user('carol');
  song = await createRepo(gw, alice.token, { name: 'song', visibility: 'private' });
  await addCollaborator(gw, alice.token, song.repoId, 'bob', 'read');
  const { snapshot, objects } = makeSnapshot({ 'score/verse.mid': 'verse bytes', 'README.md': 'hello' });
  const commit = makeCommit({ snapshotId: snapshot.snapshot_id, message: 'first take' });
  expect(
    (await pushAll(gw, '/alice/song', alice.token, { commits: [commit], snapshots: [snapshot], objects })).status,
  ).toBe(200);
  const issue = await gw.request('POST', `/api/v1/repos/${song.repoId}/issues`, {
    token: alice.token,
    json: { title: 'tempo drifts', body: 'in bar 12' },
  });
  expect(issue.status).toBe(201);
  await gw.request('POST', `/api/v1/repos/${song.repoId}/issues/1/comments`, {
    token: bob.token,
    json: { body: 'heard it too' },
  });
  aliceWeb = await signIn(gw, alice.token);
});
afterAll(() => gw?.close());
afterEach(() => gw.expectIntegrity());

/** Posts a form that must be refused with `status`, leaving every table and object as it was. */
async function expectRefused(path: string, fields: Record<string, string>, cookie: string | undefined, status: number) {
  const before = await gw.fingerprint();
  const res = await postForm(gw, path, fields, cookie);
  expect(res.status).toBe(status);
  expect(await gw.fingerprint()).toBe(before);
  return res;
}

describe('signing in', () => {
  test('a session cookie is HttpOnly, SameSite=Strict, whole-site, and not Secure on http', async () => {
    const form = await fetch(`${gw.url}/login`);
    const loginCookie = form.headers.getSetCookie()[0]!;
    expect(loginCookie).toMatch(/^musehub_login=[A-Za-z0-9_-]{43}; Max-Age=3600; Path=\/; HttpOnly; SameSite=Strict$/);
    const res = await postForm(
      gw,
      '/login',
      { csrf: csrfOf(await form.text()), token: carol.token, next: '/alice' },
      loginCookie.split(';')[0],
    );
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe('/alice');
    const session = res.setCookies.find((c) => c.startsWith('musehub_session='))!;
    expect(session).toMatch(/^musehub_session=[A-Za-z0-9_-]{43}; Max-Age=1209600; Path=\/; HttpOnly; SameSite=Strict$/);
  });

  test('a wrong or revoked token opens no session and says why', async () => {
    const before = await gw.fingerprint();
    const form = await fetch(`${gw.url}/login`);
    const cookie = form.headers.getSetCookie()[0]!.split(';')[0];
    const csrf = csrfOf(await form.text());
    for (const token of ['mh_nonsense', `${alice.token.slice(0, -2)}xx`]) {
      const res = await postForm(gw, '/login', { csrf, token }, cookie);
      expect(res.status).toBe(403);
      expect(res.text).toContain('That token is not valid, or it was revoked.');
      expect(res.setCookies.some((c) => c.includes('musehub_session='))).toBe(false);
    }
    expect(await gw.fingerprint()).toBe(before);
  });

  test('the sign-in form without its cookie pair is refused (login CSRF)', async () => {
    const form = await fetch(`${gw.url}/login`);
    const csrf = csrfOf(await form.text());
    const res = await postForm(gw, '/login', { csrf, token: alice.token });
    expect(res.status).toBe(403);
    expect(res.setCookies.some((c) => c.includes('musehub_session='))).toBe(false);
  });

  // Browsers drop tabs and newlines from a URL and read a backslash as a slash: each of these
  // would leave the site (regression: `/%09/evil.example` was answered as `Location: /<TAB>/…`).
  const offSite = [
    '//evil.example/x',
    'https://evil.example/',
    '/\\evil.example',
    '/\t/evil.example',
    '/\n/evil.example',
    '\t//evil.example',
    '\\\\evil.example',
    '/\\/evil.example',
    'javascript:alert(1)',
    'https:evil.example',
  ];
  // Regression: CR, LF or NUL in `next` was a 500 (on POST after the session row was written).
  const hostile = ['/a\r\nSet-Cookie: x=1', '/a\u0000b', '/\r/evil.example'];

  test('next= only leads to a path on this site; tabs, newlines, backslashes and NUL are never a way out or a 500', async () => {
    const form = await fetch(`${gw.url}/login`);
    const cookie = form.headers.getSetCookie()[0]!.split(';')[0];
    const csrf = csrfOf(await form.text());
    for (const next of offSite) {
      const res = await postForm(gw, '/login', { csrf, token: alice.token, next }, cookie);
      expect([next, res.status, res.headers.get('location')]).toEqual([next, 303, '/alice']);
    }
    for (const next of hostile) {
      const res = await postForm(gw, '/login', { csrf, token: alice.token, next }, cookie);
      if (next.includes('\u0000')) {
        // The one rule for text (NUL is a 400 naming the field), before any session is opened.
        expect([res.status, res.setCookies.some((c) => c.includes('musehub_session='))]).toEqual([400, false]);
        expect(res.text).toContain('next: text must not contain the NUL character');
        continue;
      }
      expect(res.status).toBe(303);
      expect(res.headers.get('location')).toMatch(/^\/[^\r\n\0]*$/);
      expect(new URL(res.headers.get('location')!, 'http://hub.test').origin).toBe('http://hub.test');
    }
    const session = await signIn(gw, alice.token);
    for (const next of [...offSite, ...hostile]) {
      const res = await fetch(`${gw.url}/login?next=${encodeURIComponent(next)}`, {
        headers: { cookie: session.cookie },
        redirect: 'manual',
      });
      expect(res.status).toBe(303);
      expect(new URL(res.headers.get('location')!, 'http://hub.test').origin).toBe('http://hub.test');
    }
    // A path on this site is kept, query included.
    const kept = await postForm(gw, '/login', { csrf, token: alice.token, next: '/alice/x/issues?state=all' }, cookie);
    expect(kept.headers.get('location')).toBe('/alice/x/issues?state=all');
  });

  test('on an https hub the cookies are __Host- and Secure', async () => {
    const https = await startTestGateway({ MUSEHUB_PUBLIC_URL: 'https://hub.example' });
    try {
      const u = await https.user('dora');
      const form = await fetch(`${https.url}/login`);
      const loginCookie = form.headers.getSetCookie()[0]!;
      expect(loginCookie).toMatch(/^__Host-musehub_login=.*; Path=\/; HttpOnly; Secure; SameSite=Strict$/);
      const res = await postForm(
        https,
        '/login',
        { csrf: csrfOf(await form.text()), token: u.token },
        loginCookie.split(';')[0],
      );
      expect(res.setCookies.find((c) => c.startsWith('__Host-musehub_session='))).toMatch(/; Secure; SameSite=Strict$/);
      expect(res.headers.get('strict-transport-security')).toBe('max-age=15552000');
    } finally {
      await https.close();
    }
  });

  test('a one-time sign-in link signs in once; used, or with its token revoked, it is refused', async () => {
    const em = gw.em();
    const { createToken } = await import('../../src/users/index.ts');
    const { record } = await createToken(em, 'alice', 'web sign-in');
    const code = await createSignInLink(em, record.tokenId);
    const confirm = await page(gw, `/login/link/${code}`);
    expect(confirm.status).toBe(200);
    expect(confirm.text).toContain('Sign in as alice');
    const cookie = confirm.setCookies[0]!.split(';')[0];
    // GET alone (a link preview, a prefetch) does not use the link.
    expect((await page(gw, `/login/link/${code}`)).status).toBe(200);
    const used = await postForm(gw, `/login/link/${code}`, { csrf: csrfOf(confirm.text) }, cookie);
    expect(used.status).toBe(303);
    const session = used.setCookies.find((c) => c.startsWith('musehub_session='))!.split(';')[0]!;
    expect((await page(gw, '/settings/deleted-repos', session)).status).toBe(200);
    const again = await postForm(gw, `/login/link/${code}`, { csrf: csrfOf(confirm.text) }, cookie);
    expect(again.status).toBe(410);
    expect(again.setCookies.some((c) => c.startsWith('musehub_session='))).toBe(false);

    const other = await createSignInLink(em, record.tokenId);
    await revokeToken(em, record.tokenId);
    expect((await page(gw, `/login/link/${other}`)).status).toBe(410);
    // The session opened with that token ended with it.
    expect((await page(gw, '/settings/deleted-repos', session)).status).toBe(303);
  });

  test('a revoked token signs its session out on the next request, and its forms change nothing', async () => {
    const { createToken } = await import('../../src/users/index.ts');
    const { token, record } = await createToken(gw.em(), 'alice', 'to revoke');
    const web = await signIn(gw, token);
    const home = await page(gw, '/alice', web.cookie);
    expect(home.text).toContain('Sign out');
    await revokeToken(gw.em(), record.tokenId);
    const after = await page(gw, '/alice', web.cookie);
    expect(after.status).toBe(200);
    expect(after.text).not.toContain('Sign out');
    expect(after.text).toContain('Your session ended');
    expect(after.setCookies.some((c) => /^musehub_session=;/.test(c))).toBe(true);
    expect(after.text).not.toContain('song'); // private repos are not listed to an anonymous viewer
    await expectRefused('/alice/song/settings/delete', { csrf: web.csrf, confirm: 'alice/song' }, web.cookie, 403);
  });

  test('sign out ends the session on the server, not only in the browser', async () => {
    const web = await signIn(gw, alice.token);
    const out = await postForm(gw, '/logout', { csrf: web.csrf }, web.cookie);
    expect(out.status).toBe(303);
    expect(out.setCookies.some((c) => /^musehub_session=;/.test(c))).toBe(true);
    // Replaying the old cookie opens nothing.
    expect((await page(gw, '/settings/deleted-repos', web.cookie)).status).toBe(303);
  });
});

describe('CSRF', () => {
  test('a form post without the token, or with another session’s, is refused and changes nothing', async () => {
    const other = await signIn(gw, alice.token);
    const before = await gw.fingerprint();
    const flipped = aliceWeb.csrf.slice(0, -1) + (aliceWeb.csrf.endsWith('A') ? 'B' : 'A');
    const attempts: Record<string, string>[] = [
      { confirm: 'alice/song' },
      { confirm: 'alice/song', csrf: '' },
      { confirm: 'alice/song', csrf: other.csrf },
      { confirm: 'alice/song', csrf: flipped },
    ];
    for (const fields of attempts) {
      const res = await postForm(gw, '/alice/song/settings/delete', fields, aliceWeb.cookie);
      expect(res.status).toBe(403);
      expect(res.text).toContain('This form has expired or was not sent from this site');
    }
    const restore = await postForm(
      gw,
      `/settings/deleted-repos/${song.repoId}/restore`,
      { csrf: other.csrf },
      aliceWeb.cookie,
    );
    expect(restore.status).toBe(403);
    const logout = await postForm(gw, '/logout', { csrf: other.csrf }, aliceWeb.cookie);
    expect(logout.status).toBe(403);
    expect(await gw.fingerprint()).toBe(before);
    expect((await page(gw, '/alice/song', aliceWeb.cookie)).status).toBe(200);
  });

  test('a JSON or multipart body cannot stand in for the form token', async () => {
    const before = await gw.fingerprint();
    const res = await fetch(`${gw.url}/alice/song/settings/delete`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', cookie: aliceWeb.cookie },
      body: JSON.stringify({ confirm: 'alice/song' }),
    });
    expect(res.status).toBe(403);
    expect(await gw.fingerprint()).toBe(before);
  });
});

describe('pages', () => {
  test('repo home: files of the default branch with sizes and /o/ links, clone command, latest commits', async () => {
    const home = await page(gw, '/alice/song', aliceWeb.cookie);
    expect(home.status).toBe(200);
    expect(home.headers.get('content-type')).toBe('text/html; charset=UTF-8');
    expect(home.text).toContain(`muse clone ${gw.url}/alice/song`);
    expect(home.text).toContain('README.md');
    expect(home.text).toContain('5 B');
    expect(home.text).toContain('score/');
    expect(home.text).toContain('first take');
    const link = /href="(\/o\/[0-9a-f]{64})" download="README.md"/.exec(home.text);
    expect(link).not.toBeNull();
    // The link downloads in the browser that shows it: the session cookie signs /o/ in (GET only).
    const withCookie = await fetch(`${gw.url}${link![1]}`, { headers: { cookie: aliceWeb.cookie } });
    expect(withCookie.status).toBe(200);
    expect(await withCookie.text()).toBe('hello');
    expect((await fetch(`${gw.url}${link![1]}`)).status).toBe(404);
    // A stranger's session opens nothing that the stranger's token would not.
    const carolWeb = await signIn(gw, carol.token);
    expect((await fetch(`${gw.url}${link![1]}`, { headers: { cookie: carolWeb.cookie } })).status).toBe(404);
    const folder = await page(gw, '/alice/song?path=score%2F', aliceWeb.cookie);
    expect(folder.text).toContain('verse.mid');
    expect(folder.text).not.toContain('README.md');
    expect((await page(gw, '/alice/song?path=nope%2F', aliceWeb.cookie)).status).toBe(404);
    expect((await page(gw, '/alice/song?branch=nope', aliceWeb.cookie)).status).toBe(404);
  });

  test('a browser’s GET of the repo URL is the page; the transport keeps its msgpack routes', async () => {
    const refs = await wire(gw, 'GET', '/alice/song/refs', undefined, { token: alice.token });
    expect(refs.status).toBe(200);
    expect(refs.headers.get('content-type')).toBe('application/x-msgpack');
    expect(refs.body.branch_heads).toHaveProperty('main');
    const html = await page(gw, '/alice/song', aliceWeb.cookie);
    expect(html.headers.get('content-type')).toContain('text/html');
  });

  test('a first segment that cannot be a user is no page: the JSON "no such route" as before', async () => {
    for (const path of ['/api/v1', '/api/v1/issues', '/favicon.ico', '/Alice/song']) {
      const res = await page(gw, path, aliceWeb.cookie);
      expect(res.status, path).toBe(404);
      expect(JSON.parse(res.text), path).toEqual({ detail: 'no such route', code: 'route_not_found' });
    }
  });

  test('issues, one issue with its comments, proposals, commits', async () => {
    const issues = await page(gw, '/alice/song/issues', aliceWeb.cookie);
    expect(issues.text).toContain('tempo drifts');
    expect(issues.text).toContain('href="/alice/song/issues/1"');
    const one = await page(gw, '/alice/song/issues/1', aliceWeb.cookie);
    expect(one.text).toContain('in bar 12');
    expect(one.text).toContain('heard it too');
    expect(one.text).toContain('bob');
    expect((await page(gw, '/alice/song/issues/99', aliceWeb.cookie)).status).toBe(404);
    expect((await page(gw, '/alice/song/issues/x', aliceWeb.cookie)).status).toBe(404);
    expect((await page(gw, '/alice/song/proposals', aliceWeb.cookie)).text).toContain('No proposals here.');
    expect((await page(gw, '/alice/song/commits', aliceWeb.cookie)).text).toContain('first take');
  });

  test('settings: the owner gets the danger zone; a reader 403; anonymous is sent to sign in', async () => {
    const owner = await page(gw, '/alice/song/settings', aliceWeb.cookie);
    expect(owner.status).toBe(200);
    expect(owner.text).toContain('data-confirm="alice/song"');
    const bobWeb = await signIn(gw, bob.token);
    expect((await page(gw, '/alice/song/settings', bobWeb.cookie)).status).toBe(403);
    const anon = await page(gw, '/alice/song/settings');
    // Anonymous: a private repo is the one 404 (never "sign in to see it").
    expect(anon.status).toBe(404);
    const pub = await createRepo(gw, alice.token, { name: 'open air', visibility: 'public' });
    const anonPublic = await page(gw, `/alice/${pub.slug}/settings`);
    expect(anonPublic.status).toBe(303);
    expect(anonPublic.headers.get('location')).toBe(`/login?next=${encodeURIComponent(`/alice/${pub.slug}/settings`)}`);
  });

  test('the typed confirmation is checked by the server too: a wrong name deletes nothing', async () => {
    const fields = { csrf: aliceWeb.csrf, confirm: 'alice/son' };
    const res = await expectRefused('/alice/song/settings/delete', fields, aliceWeb.cookie, 400);
    expect(res.text).toContain('Type alice/song exactly to confirm. Nothing was deleted.');
  });

  test('a user page lists what the viewer may read, never a deleted repo', async () => {
    const gone = await createRepo(gw, alice.token, { name: 'gone soon', visibility: 'public' });
    const doomed = await postForm(
      gw,
      `/alice/${gone.slug}/settings/delete`,
      { csrf: aliceWeb.csrf, confirm: `alice/${gone.slug}` },
      aliceWeb.cookie,
    );
    expect(doomed.status).toBe(303);
    expect(doomed.headers.get('location')).toBe('/settings/deleted-repos');
    const asOwner = await page(gw, '/alice', aliceWeb.cookie);
    expect(asOwner.text).toContain('href="/alice/song"');
    expect(asOwner.text).not.toContain(`href="/alice/${gone.slug}"`);
    const asStranger = await page(gw, '/alice');
    expect(asStranger.text).not.toContain('href="/alice/song"');
    expect((await page(gw, '/nobody-here')).status).toBe(404);
    const deleted = await page(gw, '/settings/deleted-repos', aliceWeb.cookie);
    expect(deleted.text).toContain(`Restore alice/${gone.slug}`);
  });

  test('a restore whose name was taken says so and offers nothing destructive', async () => {
    const first = await createRepo(gw, alice.token, { name: 'twin', visibility: 'public' });
    const del = await postForm(
      gw,
      '/alice/twin/settings/delete',
      { csrf: aliceWeb.csrf, confirm: 'alice/twin' },
      aliceWeb.cookie,
    );
    expect(del.status).toBe(303);
    await createRepo(gw, alice.token, { name: 'twin', visibility: 'public' });
    const list = await page(gw, '/settings/deleted-repos', aliceWeb.cookie);
    expect(list.text).toContain('A live repo is named alice/twin now');
    expect(list.text).not.toContain(`/settings/deleted-repos/${first.repoId}/restore`);
    const path = `/settings/deleted-repos/${first.repoId}/restore`;
    const res = await expectRefused(path, { csrf: aliceWeb.csrf }, aliceWeb.cookie, 409);
    expect(res.text).toContain('a live repo named &#39;alice/twin&#39; exists');
  });

  test('everything user-written is escaped: description, issue title, file name, branch name', async () => {
    const res = await gw.request('POST', '/api/v1/repos', {
      token: alice.token,
      json: { name: 'probe', description: XSS, visibility: 'public' },
    });
    expect(res.status).toBe(201);
    const repoId = ((await res.json()) as { repoId: string }).repoId;
    await gw.request('POST', `/api/v1/repos/${repoId}/issues`, { token: alice.token, json: { title: XSS } });
    const { snapshot, objects } = makeSnapshot({ [XSS]: 'x' });
    const commit = makeCommit({ snapshotId: snapshot.snapshot_id, message: XSS });
    // Git's rules allow no space in a branch name: this is the same probe without one.
    const branch = '<img/src=x/onerror=alert(1)>';
    const pushed = await pushAll(
      gw,
      '/alice/probe',
      alice.token,
      { commits: [commit], snapshots: [snapshot], objects },
      { branch },
    );
    expect(pushed.status).toBe(200);
    const pages = [
      await page(gw, '/alice/probe', aliceWeb.cookie),
      await page(gw, '/alice/probe/issues', aliceWeb.cookie),
      await page(gw, '/alice/probe/commits', aliceWeb.cookie),
      await page(gw, '/alice', aliceWeb.cookie),
    ];
    for (const p of pages) {
      expect(p.status).toBe(200);
      expect(p.text).not.toMatch(/<img[\s/]/);
    }
    expect(pages[0]!.text).toContain('&lt;img src=x onerror=alert(1)&gt;');
    expect(pages[0]!.text).toContain('&lt;img/src=x/onerror=alert(1)&gt;');
    expect(pages[1]!.text).toContain('&lt;img src=x onerror=alert(1)&gt;');
  });

  test('security headers: a CSP whose only script source is this response’s nonce, no framing, no caching', async () => {
    const res = await page(gw, '/alice/song', aliceWeb.cookie);
    const csp = res.headers.get('content-security-policy')!;
    const nonce = /'nonce-([^']+)'/.exec(csp)![1]!;
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain(`script-src 'nonce-${nonce}'`);
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).not.toContain('unsafe-inline');
    const scripts = [...res.text.matchAll(/<script([^>]*)>/g)].map((m) => m[1]);
    expect(scripts).toEqual([` nonce="${nonce}"`]);
    expect(res.headers.get('x-frame-options')).toBe('DENY');
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(res.text).not.toMatch(/(src|href)="(https?:)?\/\//); // no third-party assets
    const again = await page(gw, '/alice/song', aliceWeb.cookie);
    expect(/'nonce-([^']+)'/.exec(again.headers.get('content-security-policy')!)![1]).not.toBe(nonce);
    const css = await fetch(`${gw.url}/-/style.css`);
    expect(css.headers.get('content-type')).toBe('text/css; charset=utf-8');
  });
});
