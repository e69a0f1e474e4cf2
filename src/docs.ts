import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { Scalar } from '@scalar/hono-api-reference';
import { Hono } from 'hono';
import type { BaseEnv } from './app-env.ts';

/**
 * `/docs`: the API reference, with its script served by the gateway itself (the Scalar
 * package's self-contained standalone bundle, pinned in package.json) rather than from a CDN: on
 * a machine without internet a CDN script is a blank page, and on others it is third-party code
 * on the hub's origin. No web fonts are fetched either.
 */
export function docsRoutes(): Hono<BaseEnv> {
  // The package exports only its entry point; the browser bundle sits beside it in dist/.
  const bundle = fileURLToPath(new URL('./browser/standalone.js', import.meta.resolve('@scalar/api-reference')));
  let script: Promise<Buffer> | undefined;
  const app = new Hono<BaseEnv>();
  app.get('/docs/scalar.js', async (c) => {
    script ??= readFile(bundle);
    return c.body(new Uint8Array(await script), 200, {
      'content-type': 'text/javascript; charset=utf-8',
      'cache-control': 'public, max-age=3600',
    });
  });
  // Scalar's page carries inline script and style (its configuration), so those stay allowed;
  // what the policy adds is that the page talks to nothing but this gateway (no "Ask AI" call
  // leaves the machine) and cannot be framed.
  app.use('/docs', async (c, next) => {
    await next();
    c.header(
      'Content-Security-Policy',
      "default-src 'none'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; " +
        "font-src 'self' data:; connect-src 'self'; worker-src 'self' blob:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
    );
    c.header('X-Frame-Options', 'DENY');
    c.header('X-Content-Type-Options', 'nosniff');
  });
  app.get(
    '/docs',
    Scalar({ url: '/openapi.json', pageTitle: 'MuseHub Gateway API', cdn: '/docs/scalar.js', withDefaultFonts: false }),
  );
  return app;
}
