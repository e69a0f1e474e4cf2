import type { EntityManager } from '@mikro-orm/postgresql';
import { z } from 'zod';
import { NotFoundError, PayloadTooLargeError } from '../errors.ts';
import { branchHeads, objectSizes, snapshotRecords, walkCommits } from '../history/history.store.ts';
import { packr, toJsonSafe } from '../history/record-codec.ts';
import type { ObjectStore } from '../storage/object-store.ts';
import type { RepoAccess } from './access.ts';

/** The largest file read into memory for a reader (MCP's read_file): bigger ones are downloads. */
export const READ_FILE_MAX_BYTES = 1024 * 1024;

type Record_ = Record<string, unknown>;

/** The commit a branch points at (the default branch unless named), or a 404 naming the branch. */
export async function headOf(em: EntityManager, access: RepoAccess, branch: string | undefined): Promise<string> {
  const name = branch ?? access.repo.defaultBranch;
  const head = (await branchHeads(em, access.repo.repoId))[name];
  if (!head) throw new NotFoundError(`branch '${name}' not found`, 'branch_not_found');
  return head;
}

/** A commit of this repo with its record as the client pushed it. */
export async function commitRecord(em: EntityManager, access: RepoAccess, commitId: string): Promise<Record_> {
  const [row] = await walkCommits(em, access.repo.repoId, [commitId], 1);
  if (!row) throw new NotFoundError(`commit ${commitId} not found`, 'commit_not_found');
  return toJsonSafe(packr.unpack(row.record)) as Record_;
}

/** Up to `limit` commits reachable from `from`, newest generations first, in short form. */
export async function commitLog(em: EntityManager, access: RepoAccess, from: string, limit: number) {
  const rows = await walkCommits(em, access.repo.repoId, [from], limit);
  return rows.map((r) => {
    const c = packr.unpack(r.record) as Record_;
    return {
      commit_id: r.commit_id,
      parent_commit_id: r.parent_commit_id,
      message: String(c.message ?? ''),
      author: String(c.author ?? ''),
      committed_at: String(c.committed_at ?? ''),
    };
  });
}

/** path → object id of a commit's snapshot. */
export async function manifestOf(
  em: EntityManager,
  access: RepoAccess,
  commit: Record_,
): Promise<Record<string, string>> {
  const snapshotId = String(commit.snapshot_id ?? '');
  const [snap] = await snapshotRecords(em, access.repo.repoId, [snapshotId]);
  if (!snap) return {};
  return ((packr.unpack(snap.record) as Record_).manifest ?? {}) as Record<string, string>;
}

/** A file of a commit: UTF-8 text when it is text, base64 otherwise; refused over READ_FILE_MAX_BYTES. */
export async function readFile(store: ObjectStore, manifest: Record<string, string>, path: string) {
  const objectId = manifest[path];
  if (!objectId) throw new NotFoundError(`no file '${path}' in that commit`, 'file_not_found');
  const bytes = await store.get(objectId);
  if (bytes.length > READ_FILE_MAX_BYTES) {
    throw new PayloadTooLargeError(
      `'${path}' is ${bytes.length} bytes; files over ${READ_FILE_MAX_BYTES} bytes are fetched with muse clone or /o/${objectId}`,
    );
  }
  const text = new TextDecoder('utf-8', { fatal: true });
  try {
    return { path, object_id: objectId, size: bytes.length, encoding: 'utf-8' as const, content: text.decode(bytes) };
  } catch {
    return {
      path,
      object_id: objectId,
      size: bytes.length,
      encoding: 'base64' as const,
      content: bytes.toString('base64'),
    };
  }
}

export const CommitSummary = z.object({
  commit_id: z.string(),
  parent_commit_id: z.string().nullable(),
  message: z.string(),
  author: z.string(),
  committed_at: z.string(),
});

/** One folder of a manifest: its sub-folders and files, each sorted by name. */
export interface Folder {
  /** '' for the top, else the folder's path ending in '/'. */
  path: string;
  dirs: string[];
  files: { name: string; objectId: string }[];
}

/** The entries of `path` in a manifest; null when the manifest has nothing under that folder. */
export function folderOf(manifest: Record<string, string>, path: string): Folder | null {
  const dirs = new Set<string>();
  const files: Folder['files'] = [];
  for (const [file, objectId] of Object.entries(manifest)) {
    if (!file.startsWith(path)) continue;
    const rest = file.slice(path.length);
    const slash = rest.indexOf('/');
    if (slash === -1) files.push({ name: rest, objectId });
    else dirs.add(rest.slice(0, slash));
  }
  if (path !== '' && !dirs.size && !files.length) return null;
  const byName = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
  return { path, dirs: [...dirs].sort(byName), files: files.sort((a, b) => byName(a.name, b.name)) };
}

/**
 * The branch a reader asked for (a 404 naming it when there is none), else the default branch,
 * else the first by name; null for a repo nothing was pushed to.
 */
export async function chooseBranch(em: EntityManager, access: RepoAccess, asked: string | undefined) {
  const heads = await branchHeads(em, access.repo.repoId);
  const branches = Object.keys(heads).sort();
  if (asked !== undefined && !heads[asked]) throw new NotFoundError(`branch '${asked}' not found`, 'branch_not_found');
  const branch = asked ?? (heads[access.repo.defaultBranch] ? access.repo.defaultBranch : (branches[0] ?? null));
  return { branches, branch, head: branch === null ? null : heads[branch]! };
}

/** A listed file with its size (null when its object row is missing). */
export type ListedFile = Folder['files'][number] & { size: number | null };

/**
 * What a repo's home page shows, in one call: its branches, the chosen branch, one folder of that
 * branch's head (`path`, '' for the top, a 404 when there is no such folder) with file sizes,
 * and the latest commits.
 */
export async function repoHome(
  em: EntityManager,
  access: RepoAccess,
  opts: { branch?: string | undefined; path?: string | undefined; commits: number },
) {
  const { branches, branch, head } = await chooseBranch(em, access, opts.branch);
  if (branch === null || head === null) {
    const listing: Folder & { files: ListedFile[] } = { path: '', dirs: [], files: [] };
    return { branches: [] as string[], branch: null, listing, commits: [] as z.infer<typeof CommitSummary>[] };
  }
  const manifest = await manifestOf(em, access, await commitRecord(em, access, head));
  const path = opts.path ?? '';
  const folder = path === '' || path.endsWith('/') ? folderOf(manifest, path) : null;
  if (!folder) throw new NotFoundError(`no folder '${path}' on ${branch}`, 'file_not_found');
  const sizes = await objectSizes(
    em,
    access.repo.repoId,
    folder.files.map((f) => f.objectId),
  );
  const files: ListedFile[] = folder.files.map((f) => ({ ...f, size: sizes.get(f.objectId) ?? null }));
  return { branches, branch, listing: { ...folder, files }, commits: await commitLog(em, access, head, opts.commits) };
}
