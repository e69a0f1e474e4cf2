import type { EntityManager } from '@mikro-orm/postgresql';
import { repoNotFound } from '../errors.ts';
import { commitsByIds, presentIdsIfLive } from '../history/history.store.ts';
import type { LiveRepo, RepoLivenessCache, RepoRefs } from '../repos/index.ts';
import { writeRefs } from './refs-writer.ts';

/**
 * GET refs: what `muse clone`, `pull`, `fetch`, `push` and `ls-remote` start from. Served from
 * the per-repo heads cache; a push or delete evicts it here and, through NOTIFY, everywhere.
 */
export async function readRefs(cache: RepoLivenessCache, repo: LiveRepo): Promise<RefsAnswer> {
  const refs = await cache.refs(repo.repoId);
  if (!refs) throw repoNotFound();
  let answer = answers.get(refs);
  if (!answer) {
    const message = { repoId: repo.repoId, defaultBranch: refs.defaultBranch, heads: refs.heads };
    const value = {
      repo_id: repo.repoId,
      domain: 'code',
      default_branch: refs.defaultBranch,
      branch_heads: refs.heads,
    };
    answer = { value, msgpack: writeRefs(message) };
    answers.set(refs, answer);
  }
  return answer;
}

export interface RefsAnswer {
  value: Record<string, unknown>;
  /** Encoded once per cached heads entry: most ls-remote calls just copy these bytes. */
  msgpack: Uint8Array<ArrayBuffer>;
}

const answers = new WeakMap<RepoRefs, RefsAnswer>();

/** filter-objects: the ids this repo does not hold yet, in the order asked. */
export async function filterObjects(em: EntityManager, repoId: string, ids: string[]) {
  const present = await presentIdsIfLive(em, repoId, 'musehub_objects', ids);
  if (!present) throw repoNotFound();
  return { missing: [...new Set(ids)].filter((id) => !present.has(id)) };
}

/**
 * negotiate: which of the client's `have` ids the server knows, and the first of them met
 * walking back from `want` (one query per generation). `ready` once a common base is known,
 * or when the client has nothing (a clone).
 */
export async function negotiate(em: EntityManager, repoId: string, want: string[], have: string[]) {
  const known = await presentIdsIfLive(em, repoId, 'musehub_commits', have);
  if (!known) throw repoNotFound();
  const ack = have.filter((id) => known.has(id));
  let commonBase: string | null = want.find((id) => known.has(id)) ?? null;
  const seen = new Set<string>(want);
  let frontier = [...new Set(want)];
  while (!commonBase && known.size && frontier.length) {
    const rows = await commitsByIds(em, repoId, frontier);
    const next: string[] = [];
    for (const row of rows) {
      for (const p of [row.parent_commit_id, row.parent2_commit_id]) {
        if (!p || seen.has(p)) continue;
        if (known.has(p)) commonBase ??= p;
        seen.add(p);
        next.push(p);
      }
    }
    frontier = next;
  }
  return { ack, common_base: commonBase, ready: commonBase !== null || have.length === 0 };
}
