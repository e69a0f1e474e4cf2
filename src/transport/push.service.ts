import type { EntityManager } from '@mikro-orm/postgresql';
import type { z } from 'zod';
import { retryOnDeadlock } from '../db/retry.ts';
import { BadRequestError, ConflictError, HeadTooLargeToCloneError } from '../errors.ts';
import { type CloneParts, cloneParts, repoStoredParts } from '../history/clone-size.ts';
import {
  branchCount,
  branchHeads,
  insertCommits,
  insertSnapshots,
  isAncestor,
  lockBranch,
  type NewCommit,
  presentCommitIds,
  presentObjectIds,
  presentSnapshotIds,
  setBranchHead,
} from '../history/history.store.ts';
import type { AccessFor, LiveRepo, RepoLivenessCache } from '../repos/index.ts';
import { inLiveRepo, notifyLiveness, recordPush } from '../repos/live-repo.ts';
import type { ObjectStore } from '../storage/object-store.ts';
import type { AuthUser } from '../users/index.ts';
import { packr } from './codec.ts';
import { promoteDirectUploads, storeObjects } from './objects.service.ts';
import type { OnPushed } from './push-events.ts';
import { responseBytes } from './response-size.ts';
import { type PushRequest, parsePushRequest, type WireCommit } from './wire-schemas.ts';

type Commit = z.infer<typeof WireCommit>;

export interface PushResult {
  ok: true;
  message: string;
  branch_heads: Record<string, string>;
  remote_head: string;
}

/** The commit the branch should point at: the bundle's tip (preferring one made on that branch). */
export function tipOf(commits: readonly Commit[], branch: string): string | null {
  const parents = new Set(commits.flatMap((c) => [c.parent_commit_id, c.parent2_commit_id]).filter(Boolean));
  const tips = commits.filter((c) => !parents.has(c.commit_id));
  const onBranch = tips.filter((c) => c.branch === branch);
  const pick = onBranch.length ? onBranch : tips;
  return pick.at(-1)?.commit_id ?? null;
}

async function checkClonable(
  em: EntityManager,
  repoId: string,
  branch: string,
  head: string,
  limit: number,
  branches: number,
) {
  if (!limit) return;
  const size = (p: CloneParts) => responseBytes({ ...p, branchCount: branches });
  // Everything the repo stores fits: no head can be over, and the walk is skipped.
  if (size(await repoStoredParts(em, repoId)) <= limit) return;
  const bytes = size(await cloneParts(em, repoId, head));
  if (bytes > limit) throw new HeadTooLargeToCloneError(branch, bytes, limit);
}

const sample = (ids: Iterable<string>) => [...ids].slice(0, 3).join(', ');

/**
 * One transaction: the repo row is held FOR KEY SHARE (a concurrent delete waits, or has already
 * won and this push is a 404 that writes nothing), history rows are inserted in bulk, then
 * the branch row is locked FOR UPDATE and moved only if the old head is an ancestor of the
 * new one in the stored history — or `force` is set.
 */
export async function applyPush(
  em: EntityManager,
  repo: LiveRepo,
  user: AuthUser,
  req: z.infer<typeof PushRequest>,
  rawCommits: readonly Record<string, unknown>[],
  rawSnapshots: readonly Record<string, unknown>[],
  maxCloneBytes: number,
  onPushed: OnPushed,
): Promise<PushResult> {
  const { bundle, branch, force } = req;
  const repoId = repo.repoId;
  const newHead = bundle.branch_heads?.[branch] ?? tipOf(bundle.commits, branch);
  if (!newHead) throw new BadRequestError(`the push names no commit for branch '${branch}'`, 'empty_push');

  return retryOnDeadlock(() =>
    inLiveRepo(em, repoId, async (tx) => {
      const branchesBefore = await branchCount(tx, repoId);
      const firstBranch = branchesBefore === 0;
      const { head: before, created } = await lockBranch(tx, repoId, branch, newHead);

      const bundleCommitIds = new Set(bundle.commits.map((c) => c.commit_id));
      const bundleSnapshotIds = new Set(bundle.snapshots.map((s) => s.snapshot_id));
      const named = new Set(bundle.snapshots.flatMap((s) => Object.values(s.manifest)));
      const presentObjects = await presentObjectIds(tx, repoId, [...named]);
      const missingObjects = [...named].filter((id) => !presentObjects.has(id));
      if (missingObjects.length) {
        throw new BadRequestError(
          `snapshots name ${missingObjects.length} object(s) this repo does not have (upload them first): ${sample(missingObjects)}`,
          'missing_objects',
        );
      }
      const outsideSnapshots = [...new Set(bundle.commits.map((c) => c.snapshot_id))].filter(
        (id) => !bundleSnapshotIds.has(id),
      );
      const storedSnapshots = await presentSnapshotIds(tx, repoId, outsideSnapshots);
      const missingSnapshots = outsideSnapshots.filter((id) => !storedSnapshots.has(id));
      if (missingSnapshots.length) {
        throw new BadRequestError(`commits name unknown snapshots: ${sample(missingSnapshots)}`, 'missing_snapshots');
      }
      const outsideParents = [
        ...new Set(
          bundle.commits
            .flatMap((c) => [c.parent_commit_id, c.parent2_commit_id])
            .filter((id): id is string => !!id && !bundleCommitIds.has(id)),
        ),
      ];
      const headOutside = bundleCommitIds.has(newHead) ? [] : [newHead];
      const stored = await presentCommitIds(tx, repoId, [...outsideParents, ...headOutside]);
      const missingParents = [...outsideParents, ...headOutside].filter((id) => !stored.has(id));
      if (missingParents.length) {
        throw new BadRequestError(
          `the push refers to commits this repo does not have: ${sample(missingParents)}`,
          'missing_commits',
        );
      }

      await insertSnapshots(
        tx,
        repoId,
        bundle.snapshots.map((s, i) => ({
          snapshot_id: s.snapshot_id,
          object_ids: [...new Set(Object.values(s.manifest))],
          record: packr.pack(rawSnapshots[i]),
        })),
      );
      await insertCommits(
        tx,
        repoId,
        bundle.commits.map(
          (c, i): NewCommit => ({
            commit_id: c.commit_id,
            parent_commit_id: c.parent_commit_id ?? null,
            parent2_commit_id: c.parent2_commit_id ?? null,
            snapshot_id: c.snapshot_id,
            branch: c.branch ?? null,
            author: c.author ?? null,
            message: c.message ?? null,
            committed_at: c.committed_at ?? null,
            record: packr.pack(rawCommits[i]),
          }),
        ),
      );

      if (created || before !== newHead) {
        // Checked with the new rows in place; a refusal rolls all of them back.
        await checkClonable(tx, repoId, branch, newHead, maxCloneBytes, branchesBefore + (created ? 1 : 0));
      }
      if (!created && before !== newHead) {
        if (!force && !(await isAncestor(tx, repoId, before, newHead))) {
          throw new ConflictError(
            `non-fast-forward push to '${branch}' — use force=true to overwrite`,
            'non_fast_forward',
          );
        }
        await setBranchHead(tx, repoId, branch, newHead);
      }
      await recordPush(tx, repoId, branch, firstBranch);
      // Other processes drop their cached heads for this repo when this commits.
      await notifyLiveness(tx, 'update', repo);
      await onPushed(tx, {
        repo: { repoId, owner: repo.owner, slug: repo.slug },
        branch,
        before: created ? null : before,
        after: newHead,
        forced: force && !created && before !== newHead,
        commits: bundle.commits.length,
        pusher: user.username,
      });
      return {
        ok: true,
        message: `pushed ${bundle.commits.length} commit(s) to '${branch}'`,
        branch_heads: await branchHeads(tx, repoId),
        remote_head: newHead,
      };
    }),
  );
}

export interface PushDeps {
  store: ObjectStore;
  cache: RepoLivenessCache;
  maxObjectBytes: number;
  maxCloneBytes: number;
  onPushed: OnPushed;
}

/**
 * POST …/push: a decoded body in, the answer out. Objects carried inline (the muse client sends
 * them through push/objects, but the protocol allows both) are stored first; then the push
 * itself; then this process's cached heads are dropped (a first push also sets the default
 * branch, so refs must not serve the cached one; other processes hear of it through NOTIFY).
 */
export async function receivePush(
  em: () => EntityManager,
  deps: PushDeps,
  access: AccessFor<'write', LiveRepo>,
  body: unknown,
): Promise<PushResult> {
  const { repo, user } = access;
  const { request, rawCommits, rawSnapshots } = parsePushRequest(body);
  if (request.bundle.objects.length) {
    await storeObjects(em(), deps.store, repo.repoId, request.bundle.objects, deps.maxObjectBytes);
  }
  const named = new Set(request.bundle.snapshots.flatMap((s) => Object.values(s.manifest)));
  await promoteDirectUploads(em, deps.store, repo.repoId, [...named], deps.maxObjectBytes);
  const result = await applyPush(
    em(),
    repo,
    user,
    request,
    rawCommits,
    rawSnapshots,
    deps.maxCloneBytes,
    deps.onPushed,
  );
  deps.cache.evictRepo(repo.repoId);
  return result;
}
