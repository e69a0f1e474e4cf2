import type { Result, Router } from 'hono/router';
import { RegExpRouter } from 'hono/router/reg-exp-router';
import { SmartRouter } from 'hono/router/smart-router';
import { TrieRouter } from 'hono/router/trie-router';
import { isReservedName } from '../users/index.ts';

/** What follows /{owner}/{slug}/ on the muse wire protocol's routes (transport/routes.ts). */
export const WIRE_SUFFIXES = ['refs', 'fetch', 'push', 'push/objects', 'negotiate', 'filter-objects', 'presign'];

/**
 * Hono's RegExpRouter compiles a route table into one regular expression, but refuses a table
 * where a literal and a parameter meet at the same position (`/health` beside
 * `/:owner/:slug/refs`): with the whole app's routes SmartRouter falls back to TrieRouter, which
 * walks its tree and sorts the handlers it found on every request. The wire's routes alone
 * compile. So this router keeps two tables: a compiled one for paths of the wire's shape
 * (`/{owner}/{slug}/refs|fetch|…`, owner not a name the gateway routes itself), holding every
 * route that could match such a path — the wire's and the middleware registered for every path,
 * in registration order — and the whole app's table for every other path.
 *
 * A path therefore matches the same handlers in the same order as in one table over every route
 * (test/transport/wire-first-router.test.ts checks this for every route of the app).
 */
export class WireFirstRouter<T> implements Router<T> {
  readonly name = 'WireFirstRouter';
  readonly wire = new RegExpRouter<T>();
  readonly rest = new SmartRouter<T>({ routers: [new RegExpRouter(), new TrieRouter()] });
  private readonly suffixes: ReadonlySet<string>;
  private readonly templates: readonly (string | symbol)[][];

  constructor(suffixes: readonly string[] = WIRE_SUFFIXES) {
    this.suffixes = new Set(suffixes);
    this.templates = suffixes.map((s) => [OWNER, SLUG, ...s.split('/')]);
  }

  add(method: string, path: string, handler: T): void {
    if (this.couldMatchWire(path)) this.wire.add(method, path, handler);
    this.rest.add(method, path, handler);
  }

  match(method: string, path: string): Result<T> {
    return this.isWirePath(path) ? this.wire.match(method, path) : this.rest.match(method, path);
  }

  /** /{owner}/{slug}/{suffix} with a non-empty slug and an owner the gateway does not route itself. */
  isWirePath(path: string): boolean {
    const ownerEnd = path.indexOf('/', 1);
    if (ownerEnd <= 1) return false;
    const slugEnd = path.indexOf('/', ownerEnd + 1);
    if (slugEnd <= ownerEnd + 1) return false;
    return this.suffixes.has(path.slice(slugEnd + 1)) && !isReservedName(path.slice(1, ownerEnd));
  }

  /** Whether a route's pattern could match some path isWirePath accepts (erring towards yes). */
  private couldMatchWire(pattern: string): boolean {
    if (pattern === '*' || pattern === '/*') return true;
    const segments = pattern.split('/').slice(1);
    return this.templates.some((template) => fits(segments, template));
  }
}

const OWNER = Symbol('owner');
const SLUG = Symbol('slug');

function fits(segments: readonly string[], template: readonly (string | symbol)[]): boolean {
  for (const [i, segment] of segments.entries()) {
    if (segment.includes('*')) return true;
    const expected = template[i];
    if (expected === undefined) return false;
    if (segment.startsWith(':') || expected === SLUG) continue;
    if (expected === OWNER) {
      if (isReservedName(segment)) return false;
      continue;
    }
    if (segment !== expected) return false;
  }
  return segments.length === template.length;
}
