import type { Result } from 'hono/router';
import { TrieRouter } from 'hono/router/trie-router';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { WIRE_SUFFIXES, WireFirstRouter } from '../../src/transport/wire-first-router.ts';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';

/**
 * The app's router answers every path with the handlers one plain table over every route would
 * (Hono's TrieRouter, what SmartRouter fell back to), in the same order with the same params —
 * while the wire's paths are served from a compiled table of their own.
 */
let gw: TestGateway;
beforeAll(async () => {
  gw = await startTestGateway();
});
afterAll(() => gw?.close());

type Route = TestGateway['app']['routes'][number];
type Entry = [unknown, Route];

/** [route, params] in order, whichever shape (compiled or tree) the router answered in. */
function normalize(result: Result<Entry>) {
  const [matches, stash] = result as [[Entry, Record<string, string | number>][], string[] | undefined];
  return matches.map(([entry, params]) => [
    entry[1],
    Object.fromEntries(Object.entries(params).map(([k, v]) => [k, stash ? stash[v as number] : v] as const)),
  ]);
}

function concretePaths(routes: readonly Route[]): string[] {
  const paths = new Set<string>();
  const owners = ['alice', 'o', 'api', 'settings', 'presigned', 'login', 'docs'];
  for (const owner of owners) {
    for (const suffix of [...WIRE_SUFFIXES, 'issues', 'push/other', 'refs/extra', '']) {
      paths.add(`/${owner}/neo-soul/${suffix}`);
    }
    paths.add(`/${owner}`);
    paths.add(`/${owner}/neo-soul`);
  }
  for (const r of routes) {
    const fill = (value: string) =>
      r.path
        .split('/')
        .map((s) => (s.startsWith(':') ? value : s === '*' ? 'x/y' : s))
        .join('/') || '/';
    paths.add(fill('alice'));
    paths.add(fill('1'));
  }
  return [...paths];
}

test('every path matches the same handlers, in the same order, with the same params as one table of every route', () => {
  const router = gw.app.router as unknown as WireFirstRouter<Entry>;
  expect(router.name).toBe('WireFirstRouter');
  const reference = new TrieRouter<Entry>();
  for (const r of gw.app.routes) reference.add(r.method, r.path, [r.handler, r]);

  const paths = concretePaths(gw.app.routes);
  let wirePaths = 0;
  for (const method of ['GET', 'POST', 'PUT', 'PATCH', 'DELETE']) {
    for (const path of paths) {
      if (router.isWirePath(path)) wirePaths++;
      expect(normalize(router.match(method, path)), `${method} ${path}`).toEqual(
        normalize(reference.match(method, path)),
      );
    }
  }
  // The wire's paths were asked of the compiled table, and it compiled.
  expect(wirePaths).toBeGreaterThanOrEqual(5 * WIRE_SUFFIXES.length);
  expect(router.wire.name).toBe('RegExpRouter');
  expect(normalize(router.wire.match('GET', '/alice/neo-soul/refs')).length).toBeGreaterThan(1);
});

test('the wire suffixes are exactly the routes the transport registers under /:owner/:slug/', () => {
  const transport = gw.app.routes
    .filter((r) => r.path.startsWith('/:owner/:slug/') && ['GET', 'POST'].includes(r.method))
    .filter((r) => !(r.handler as { name?: string }).name?.match(/^(renderPage|submitForm)$/))
    .map((r) => r.path.slice('/:owner/:slug/'.length));
  const pages = gw.app.routes
    .filter((r) => r.path.startsWith('/:owner/:slug/'))
    .map((r) => r.path.slice('/:owner/:slug/'.length));
  for (const suffix of WIRE_SUFFIXES) expect(transport).toContain(suffix);
  // Every other route under a repo is a page's, and none of them shares a suffix with the wire.
  for (const suffix of new Set(pages)) {
    if (!WIRE_SUFFIXES.includes(suffix)) expect(suffix).toMatch(/^(commits|issues|proposals|settings)(\/|$)/);
  }
});

test('the router decides by shape: an owner name the gateway routes itself is never a wire path', () => {
  const router = new WireFirstRouter<string>();
  expect(router.isWirePath('/alice/neo-soul/refs')).toBe(true);
  expect(router.isWirePath('/alice/neo-soul/push/objects')).toBe(true);
  expect(router.isWirePath('/o/neo-soul/refs')).toBe(false);
  expect(router.isWirePath('/api/v1/refs')).toBe(false);
  expect(router.isWirePath('//neo-soul/refs')).toBe(false);
  expect(router.isWirePath('/alice//refs')).toBe(false);
  expect(router.isWirePath('/alice/neo-soul/refs/')).toBe(false);
  expect(router.isWirePath('/alice/neo-soul')).toBe(false);
});
