import type { EntityManager } from '@mikro-orm/postgresql';
import { repoIsLive } from '../db/live-repo-sql.ts';
import { runSql } from '../db/sql.ts';
import { NotFoundError } from '../errors.ts';
import { isObjectId } from '../storage/object-store.ts';
import type { AuthUser } from '../users/index.ts';

export interface ServableObject {
  size: number;
  /** true when every repo that lets the caller see it is public (cacheable by shared caches). */
  public: boolean;
}

/**
 * GET /o/{id}: the object is served only when it belongs to at least one live repo the
 * caller may read. Otherwise — unknown, deleted or private — one 404.
 */
export async function findServableObject(
  em: EntityManager,
  user: AuthUser | null,
  objectId: string,
): Promise<ServableObject> {
  const notFound = new NotFoundError('object not found', 'object_not_found');
  if (!isObjectId(objectId)) throw notFound;
  // Raw: object row, repo liveness and read access in one round trip (filters do not reach joins of raw SQL).
  // `readable` is checkAllowed's read rule (repos/access.ts) folded into the query: public, owner or collaborator.
  const rows = await runSql<{ size: string; visibility: string; readable: boolean }>(
    em,
    `SELECT o.size, r.visibility,
            (r.visibility = 'public' OR r.owner_user_id = ? OR EXISTS (
               SELECT 1 FROM musehub_collaborators c WHERE c.repo_id = r.repo_id AND c.user_id = ?)) AS readable
       FROM musehub_objects o JOIN musehub_repos r ON r.repo_id = o.repo_id
      WHERE o.object_id = ? AND ${repoIsLive('r')}`,
    [user?.userId ?? null, user?.userId ?? null, objectId],
  );
  const readable = rows.filter((r) => r.readable);
  if (!readable.length) throw notFound;
  return { size: Number(readable[0]!.size), public: readable.some((r) => r.visibility === 'public') };
}
