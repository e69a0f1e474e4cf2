import { readFileSync } from 'node:fs';
import type { Context } from 'hono';
import { Hono } from 'hono';
import type { BaseEnv } from '../app-env.ts';
import { chooseEncoding, compressedOnce } from './compressed.ts';
import type { OpenApiDocument } from './openapi-types.ts';
import { ReferencePage } from './reference.tsx';

const STYLESHEET = readFileSync(new URL('./reference.css', import.meta.url));

/**
 * `/docs`: the API reference, rendered here from the OpenAPI document (reference.tsx) — no
 * script, no font, no third party, so it works offline and shows at once. Rendered once per
 * process on first request and kept, with its gzip and brotli forms.
 */
export function docsRoutes(document: () => OpenApiDocument): Hono<BaseEnv> {
  const app = new Hono<BaseEnv>();
  let html: Buffer | undefined;
  const page = compressedOnce(() => {
    html ??= Buffer.from(`<!doctype html>${String(<ReferencePage doc={document()} />)}`);
    return html;
  });
  const css = compressedOnce(() => STYLESHEET);

  const send = async (c: Context<BaseEnv>, bytes: ReturnType<typeof compressedOnce>, type: string) => {
    const encoding = chooseEncoding(c.req.header('accept-encoding'));
    const body = await bytes(encoding);
    c.header('content-type', type);
    c.header('vary', 'accept-encoding');
    c.header('cache-control', 'public, max-age=300');
    if (encoding !== 'identity') c.header('content-encoding', encoding);
    return c.body(new Uint8Array(body), 200);
  };

  // The page talks to nothing, runs nothing and cannot be framed.
  app.use('/docs', async (c, next) => {
    await next();
    c.header(
      'Content-Security-Policy',
      "default-src 'none'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
    );
    c.header('X-Frame-Options', 'DENY');
    c.header('X-Content-Type-Options', 'nosniff');
  });
  app.get('/docs', (c) => send(c, page, 'text/html; charset=utf-8'));
  app.get('/docs/reference.css', (c) => send(c, css, 'text/css; charset=utf-8'));
  return app;
}
