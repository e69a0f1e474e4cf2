import { createHash, randomBytes } from 'node:crypto';
import { Packr } from 'msgpackr';

export const packr = new Packr({ useRecords: false, mapsAsObjects: true, moreTypes: false });
const sha = (b: Uint8Array | string) => createHash('sha256').update(b).digest('hex');

export interface SeedOptions {
  commits: number;
  objects: number;
  branches: number;
  filesPerSnapshot: number;
  /** Object size in bytes; default 1–64 KiB skewed small. */
  objectSize?: () => number;
}

/**
 * A realistic repo: `objects` blobs of 1–64 KiB (skewed small, mean ≈ 9 KiB, so a full
 * clone stays under the muse client's 64 MiB response limit), `commits` commits on main,
 * each snapshot naming a sliding window of files, and `branches` branch heads.
 */
export function buildRepo(opts: SeedOptions) {
  const objects = Array.from({ length: opts.objects }, () => {
    const size = opts.objectSize?.() ?? Math.round(1024 * 64 ** (Math.random() ** 2));
    const content = randomBytes(size);
    return { object_id: sha(content), content };
  });
  const commits: Record<string, unknown>[] = [];
  const snapshots: Record<string, unknown>[] = [];
  let parent: string | null = null;
  const perCommit = Math.ceil(opts.objects / opts.commits);
  for (let i = 0; i < opts.commits; i++) {
    const start = Math.max(0, (i + 1) * perCommit - opts.filesPerSnapshot);
    const window = objects.slice(start, Math.min(objects.length, (i + 1) * perCommit));
    const manifest = Object.fromEntries(window.map((o, j) => [`tracks/${start + j}.bin`, o.object_id]));
    const snapshot = {
      snapshot_id: sha(`snap-${i}-${JSON.stringify(manifest)}`),
      manifest,
      created_at: new Date().toISOString(),
    };
    const commit = {
      commit_id: sha(`commit-${i}-${randomBytes(8).toString('hex')}`),
      repo_id: 'bench',
      branch: 'main',
      snapshot_id: snapshot.snapshot_id,
      message: `commit ${i}`,
      committed_at: new Date(Date.now() - (opts.commits - i) * 60_000).toISOString(),
      parent_commit_id: parent,
      parent2_commit_id: null,
      author: 'bench',
      metadata: {},
      structured_delta: null,
      sem_ver_bump: 'none',
      breaking_changes: [],
      agent_id: '',
      model_id: '',
      toolchain_id: '',
      prompt_hash: '',
      signature: '',
      signer_key_id: '',
      format_version: 5,
      reviewed_by: [],
      test_runs: 0,
    };
    commits.push(commit);
    snapshots.push(snapshot);
    parent = commit.commit_id as string;
  }
  return { objects, commits, snapshots };
}

/**
 * Pushes the repo the way the muse client does: objects over `presignOver` bytes through presign
 * and a PUT of their bytes to each URL (with no Authorization), the rest in chunks, then commits
 * and snapshots.
 */
export async function pushRepo(
  base: string,
  token: string,
  repo: ReturnType<typeof buildRepo>,
  branches: number,
  opts: { presignOver?: number } = {},
) {
  const headers = {
    authorization: `Bearer ${token}`,
    'content-type': 'application/x-msgpack',
    accept: 'application/x-msgpack',
  };
  const post = async (path: string, body: unknown) => {
    const res = await fetch(`${base}${path}`, { method: 'POST', headers, body: new Uint8Array(packr.pack(body)) });
    const bytes = Buffer.from(await res.arrayBuffer());
    if (!res.ok) throw new Error(`${path}: HTTP ${res.status} ${bytes.toString().slice(0, 300)}`);
    return packr.unpack(bytes);
  };
  const presignOver = opts.presignOver ?? Number.POSITIVE_INFINITY;
  const large = repo.objects.filter((o) => o.content.length > presignOver);
  for (let i = 0; i < large.length; i += 100) {
    const batch = large.slice(i, i + 100);
    const { presigned } = (await post('/presign', {
      object_ids: batch.map((o) => o.object_id),
      direction: 'put',
    })) as { presigned: Record<string, string> };
    // Four at a time, as the client sends its push/objects requests.
    let next = 0;
    const upload = async () => {
      while (next < batch.length) {
        const o = batch[next++]!;
        const res = await fetch(presigned[o.object_id]!, { method: 'PUT', body: new Uint8Array(o.content) });
        if (!res.ok) throw new Error(`presigned PUT: HTTP ${res.status} ${(await res.text()).slice(0, 300)}`);
        await res.arrayBuffer().catch(() => undefined);
      }
    };
    await Promise.all([upload(), upload(), upload(), upload()]);
  }
  // Chunks of at most 400 objects or 16 MiB, well inside the gateway's body limit.
  let chunk: typeof repo.objects = [];
  let bytes = 0;
  for (const o of repo.objects.filter((x) => x.content.length <= presignOver)) {
    if (chunk.length && (chunk.length === 400 || bytes + o.content.length > 16 * 1024 * 1024)) {
      await post('/push/objects', { objects: chunk });
      chunk = [];
      bytes = 0;
    }
    chunk.push(o);
    bytes += o.content.length;
  }
  if (chunk.length) await post('/push/objects', { objects: chunk });
  await post('/push', {
    bundle: { commits: repo.commits, snapshots: repo.snapshots, objects: [] },
    branch: 'main',
    force: false,
  });
  // Extra branches point into history, as feature branches would.
  for (let b = 1; b < branches; b++) {
    const at = repo.commits[Math.floor((b / branches) * repo.commits.length)]!;
    await post('/push', {
      bundle: { commits: [], snapshots: [], objects: [], branch_heads: { [`feature-${b}`]: at.commit_id } },
      branch: `feature-${b}`,
      force: false,
    });
  }
}
