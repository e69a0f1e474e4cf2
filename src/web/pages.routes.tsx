import { readFileSync } from 'node:fs';
import { type PageDeps, pageKit } from './kit.routes.tsx';
import { repoPages } from './repo-pages.routes.tsx';
import { signInRoutes } from './sign-in.routes.tsx';
import { threadPages } from './thread-pages.routes.tsx';

export type { PageDeps } from './kit.routes.tsx';

const STYLESHEET = readFileSync(new URL('./style.css', import.meta.url));

/**
 * Server-rendered pages for people. Static paths first: /settings/… and /login… would otherwise
 * read as /{owner}/{slug}. Every refusal to read renders the one NotFoundPage (kit.routes.tsx).
 */
export function pageRoutes(deps: PageDeps) {
  const kit = pageKit(deps);
  kit.app.get('/-/style.css', (c) =>
    c.body(new Uint8Array(STYLESHEET), 200, {
      'content-type': 'text/css; charset=utf-8',
      'cache-control': 'public, max-age=300',
    }),
  );
  signInRoutes(kit, deps);
  repoPages(kit, deps);
  threadPages(kit);
  return kit.app;
}
