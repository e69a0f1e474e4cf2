import type { EntityManager } from '@mikro-orm/postgresql';
import { UserSchema } from './user.entity.ts';

/** user ids → usernames, in one query, for shaping lists. */
export async function usernamesById(em: EntityManager, ids: Iterable<string>): Promise<Map<string, string>> {
  const unique = [...new Set(ids)];
  if (!unique.length) return new Map();
  const users = await em.find(UserSchema, { userId: { $in: unique } }, { fields: ['userId', 'username'] });
  return new Map(users.map((u) => [u.userId, u.username]));
}
