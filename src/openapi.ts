import { OpenAPIHono, z } from '@hono/zod-openapi';
import type { RestEnv } from './app-env.ts';
import { ERROR_CODES, type ErrorCode } from './error-codes.ts';
import { BadRequestError } from './errors.ts';

/** Every REST router is made here so that validation failures use the project's `{detail, code}` body. */
export function createRouter() {
  return new OpenAPIHono<RestEnv>({
    defaultHook: (result) => {
      if (!result.success) {
        const issue = result.error.issues[0];
        const where = issue?.path.length ? `${issue.path.join('.')}: ` : '';
        throw new BadRequestError(`${result.target} ${where}${issue?.message ?? 'is invalid'}`, 'invalid_request');
      }
    },
  });
}

export const ErrorSchema = z
  .object({
    detail: z.string().openapi({ example: 'repo not found' }),
    code: z.enum(Object.keys(ERROR_CODES) as [ErrorCode, ...ErrorCode[]]).openapi({
      example: 'repo_not_found',
      description: Object.entries(ERROR_CODES)
        .map(([code, [status, meaning]]) => `\`${code}\` (${[status].flat().join('/')}): ${meaning}`)
        .join('\n'),
    }),
  })
  .openapi('Error');

export const errorResponses = (...statuses: (400 | 401 | 403 | 404 | 409 | 413 | 422)[]) =>
  Object.fromEntries(
    statuses.map((s) => [s, { description: ERROR_TEXT[s], content: { 'application/json': { schema: ErrorSchema } } }]),
  );

const ERROR_TEXT = {
  400: 'Invalid input',
  401: 'Missing, invalid or revoked token',
  403: 'Not allowed',
  404: 'Not found (or not visible to the caller)',
  409: 'Conflict',
  413: 'Body too large',
  422: 'Understood but refused (the detail says which rule)',
} as const;

export const PageQuerySchema = z.object({
  cursor: z.string().max(512).optional().openapi({ description: 'Opaque cursor from the previous page' }),
  limit: z.coerce.number().int().min(1).max(100).default(20).openapi({ description: 'Items per page (1-100)' }),
});

/** RFC 8288 `Link: <…>; rel="next"`, built from the public base URL so it works behind proxies. */
export function nextLink(publicUrl: string, requestUrl: string, nextCursor: string | null, limit: number) {
  if (!nextCursor) return undefined;
  const url = new URL(requestUrl);
  const next = new URL(url.pathname, `${publicUrl}/`);
  for (const [k, v] of url.searchParams) if (k !== 'cursor' && k !== 'limit') next.searchParams.set(k, v);
  next.searchParams.set('limit', String(limit));
  next.searchParams.set('cursor', nextCursor);
  return `<${next.toString()}>; rel="next"`;
}

export const json = <T extends z.ZodType>(schema: T, description: string) => ({
  description,
  content: { 'application/json': { schema } },
});

export const jsonBody = <T extends z.ZodType>(schema: T) => ({
  required: true,
  content: { 'application/json': { schema } },
});

export const RepoIdParam = z.object({ repo_id: z.string().openapi({ param: { name: 'repo_id', in: 'path' } }) });

export const NumberParam = RepoIdParam.extend({
  number: z.coerce
    .number()
    .int()
    .min(1)
    .max(2 ** 31 - 1)
    .openapi({ param: { name: 'number', in: 'path' } }),
});

export const NoContent = { 204: { description: 'Done' } } as const;

/** Sets the Link header for a page and returns the body fields every list shares. */
export function withNextLink(
  c: { header(name: string, value: string): void; req: { url: string } },
  publicUrl: string,
  nextCursor: string | null,
  limit: number,
) {
  const link = nextLink(publicUrl, c.req.url, nextCursor, limit);
  if (link) c.header('Link', link);
  return { nextCursor };
}
