import type { EntitySchema } from '@mikro-orm/core';
import { Cursor } from '@mikro-orm/core';
import type { EntityManager } from '@mikro-orm/postgresql';
import { BadRequestError } from '../errors.ts';

export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

export interface PageRequest {
  cursor?: string | undefined;
  limit: number;
}

/** One page through MikroORM's cursor pagination; a cursor that does not decode is a 400. */
export async function findPage<T extends object>(
  em: EntityManager,
  schema: EntitySchema<T>,
  where: object,
  orderBy: Record<string, 'asc' | 'desc'>,
  page: PageRequest,
): Promise<Page<T>> {
  if (page.cursor !== undefined) {
    let ok = false;
    try {
      const decoded = Cursor.decode(page.cursor);
      ok = Array.isArray(decoded) && decoded.length === Object.keys(orderBy).length;
    } catch {
      ok = false;
    }
    if (!ok) throw new BadRequestError('invalid cursor', 'invalid_cursor');
  }
  // biome-ignore lint/suspicious/noExplicitAny: where/orderBy are typed by each caller's entity
  const result = await em.findByCursor(schema, where as any, {
    first: page.limit,
    after: page.cursor,
    // biome-ignore lint/suspicious/noExplicitAny: see above
    orderBy: orderBy as any,
    includeCount: false,
  });
  return { items: result.items as T[], nextCursor: result.hasNextPage ? result.endCursor : null };
}

/** Rows per page when a table is walked whole (garbage collection's listings). */
export const KEYSET_PAGE = 1000;

/**
 * Every row of a table in keyset pages of KEYSET_PAGE — never one answer in memory — given a
 * query for the page after a key (the empty string: from the start) ordered by that key.
 */
export async function* keysetPages<R>(page: (after: string) => Promise<R[]>, keyOf: (row: R) => string) {
  let after = '';
  for (;;) {
    const rows = await page(after);
    yield* rows;
    if (rows.length < KEYSET_PAGE) return;
    after = keyOf(rows[rows.length - 1]!);
  }
}
