import type { MiddlewareHandler } from 'hono';
import type { BaseEnv } from '../app-env.ts';
import { BadRequestError, GatewayError } from '../errors.ts';
import { jsonMayHoldNul, rejectNul } from '../text.ts';

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Compressed request bodies are refused (415) rather than inflated: the size limits then
 * bound the bytes the gateway handles, and no decompression bomb can get past them.
 * Checked by the outermost middleware (requestContext), for every request.
 */
export function encodedBodyRefusal(contentEncoding: string | undefined): GatewayError | null {
  const encoding = contentEncoding?.trim().toLowerCase();
  if (!encoding || encoding === 'identity') return null;
  return new GatewayError(
    415,
    'unsupported_content_encoding',
    `Content-Encoding '${encoding}' is not accepted; send the body uncompressed`,
  );
}

/**
 * A JSON body must be valid UTF-8: the platform's JSON parser would quietly turn bad bytes
 * into U+FFFD and store a title or name the client never sent. And no text in it may hold NUL.
 */
export function strictUtf8Json(): MiddlewareHandler<BaseEnv> {
  return async function strictUtf8JsonMiddleware(c, next) {
    const type = c.req.header('content-type')?.split(';')[0]?.trim().toLowerCase();
    if (type === 'application/json' && c.req.method !== 'GET' && c.req.method !== 'HEAD') {
      // Hono caches the bytes: the validator's c.req.json() reads them again without the socket.
      const bytes = new Uint8Array(await c.req.arrayBuffer());
      let text: string;
      try {
        text = utf8.decode(bytes);
      } catch {
        throw new BadRequestError('request body is not valid UTF-8', 'malformed_json');
      }
      if (jsonMayHoldNul(text)) {
        let parsed: unknown;
        try {
          parsed = JSON.parse(text);
        } catch {
          throw new BadRequestError('request body is not valid JSON', 'malformed_json');
        }
        rejectNul(parsed);
      }
    }
    await next();
  };
}
