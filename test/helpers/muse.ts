import { createHash, randomBytes } from 'node:crypto';
import { Packr } from 'msgpackr';
import type { TestGateway } from './gateway.ts';

/** Plain msgpack, as the Python muse client writes it. */
export const wirePackr = new Packr({ useRecords: false, mapsAsObjects: true, moreTypes: false });

const sha = (b: Uint8Array | string) => createHash('sha256').update(b).digest('hex');

export interface WireObject {
  object_id: string;
  content: Buffer;
}

export const makeObject = (content: Buffer | string): WireObject => {
  const bytes = Buffer.isBuffer(content) ? content : Buffer.from(content);
  return { object_id: sha(bytes), content: bytes };
};

/** A snapshot over files, with the objects that hold their bytes. */
export function makeSnapshot(files: Record<string, Buffer | string>) {
  const objects = Object.values(files).map(makeObject);
  const manifest = Object.fromEntries(Object.keys(files).map((p, i) => [p, objects[i]!.object_id]));
  const snapshot = { snapshot_id: sha(JSON.stringify(manifest)), manifest, created_at: new Date().toISOString() };
  return { snapshot, objects };
}

/** A commit record with the 22 keys the muse client sends (plus any extra ones given). */
export function makeCommit(opts: {
  snapshotId: string;
  parent?: string | null;
  parent2?: string | null;
  message?: string;
  branch?: string;
  extra?: Record<string, unknown>;
}) {
  return {
    commit_id: sha(randomBytes(16)),
    repo_id: '00000000-0000-4000-8000-00000000c11e',
    branch: opts.branch ?? 'main',
    snapshot_id: opts.snapshotId,
    message: opts.message ?? 'a commit',
    committed_at: new Date().toISOString(),
    parent_commit_id: opts.parent ?? null,
    parent2_commit_id: opts.parent2 ?? null,
    author: '',
    metadata: { mood: 'warm' },
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
    ...opts.extra,
  };
}

export interface WireResponse {
  status: number;
  // biome-ignore lint/suspicious/noExplicitAny: decoded wire bodies are asserted on field by field
  body: any;
  headers: Headers;
  raw: Buffer;
}

/** One request as the muse client makes it: msgpack body, msgpack-first Accept. */
export async function wire(
  gw: TestGateway,
  method: 'GET' | 'POST',
  path: string,
  body?: unknown,
  opts: { token?: string } = {},
): Promise<WireResponse> {
  const headers: Record<string, string> = { accept: 'application/x-msgpack, application/json' };
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  if (body !== undefined) headers['content-type'] = 'application/x-msgpack';
  const res = await fetch(`${gw.url}${path}`, {
    method,
    headers,
    body: body === undefined ? undefined : new Uint8Array(wirePackr.pack(body)),
  });
  const raw = Buffer.from(await res.arrayBuffer());
  const type = res.headers.get('content-type') ?? '';
  const decoded = raw.length === 0 ? {} : type.includes('msgpack') ? wirePackr.unpack(raw) : JSON.parse(raw.toString());
  return { status: res.status, body: decoded, headers: res.headers, raw };
}

/** A whole `muse push`: refs, filter-objects, push/objects, push. */
export async function pushAll(
  gw: TestGateway,
  remote: string,
  token: string,
  bundle: { commits: object[]; snapshots: object[]; objects: WireObject[] },
  opts: { branch?: string; force?: boolean } = {},
) {
  const ids = bundle.objects.map((o) => o.object_id);
  const filter = await wire(gw, 'POST', `${remote}/filter-objects`, { object_ids: ids }, { token });
  const missing = new Set<string>(filter.body.missing ?? []);
  const upload = bundle.objects.filter((o) => missing.has(o.object_id));
  if (upload.length) {
    const up = await wire(gw, 'POST', `${remote}/push/objects`, { objects: upload }, { token });
    if (up.status !== 200) return up;
  }
  return wire(
    gw,
    'POST',
    `${remote}/push`,
    {
      bundle: { commits: bundle.commits, snapshots: bundle.snapshots, objects: [] },
      branch: opts.branch ?? 'main',
      force: opts.force ?? false,
    },
    { token },
  );
}

/** presign, direction put: the upload URL of each object, as the muse client asks for them. */
export function presignPut(gw: TestGateway, remote: string, token: string, ids: string[], ttlSeconds?: number) {
  return wire(
    gw,
    'POST',
    `${remote}/presign`,
    { object_ids: ids, direction: 'put', ...(ttlSeconds ? { ttl_seconds: ttlSeconds } : {}) },
    { token },
  );
}

/** The muse client presigns only the missing objects over this size; the rest go inline. */
export const PRESIGN_OVER_BYTES = 64 * 1024;

/**
 * A whole `muse push` as the client makes it when some objects are large: refs, filter-objects,
 * presign (direction put) for the missing objects over 64 KiB, a PUT of each one's raw bytes to
 * its URL with no Authorization header, push/objects for the rest, then push. Returns the push
 * answer and the upload URLs it was handed.
 */
export async function pushLikeMuse(
  gw: TestGateway,
  remote: string,
  token: string,
  bundle: { commits: object[]; snapshots: object[]; objects: WireObject[] },
  opts: { branch?: string } = {},
): Promise<WireResponse & { uploadUrls: string[] }> {
  const ids = bundle.objects.map((o) => o.object_id);
  const filter = await wire(gw, 'POST', `${remote}/filter-objects`, { object_ids: ids }, { token });
  if (filter.status !== 200) return { ...filter, uploadUrls: [] };
  const missing = new Set<string>(filter.body.missing);
  const large = bundle.objects.filter((o) => missing.has(o.object_id) && o.content.length > PRESIGN_OVER_BYTES);
  const uploadUrls: string[] = [];
  const inline = bundle.objects.filter((o) => missing.has(o.object_id) && o.content.length <= PRESIGN_OVER_BYTES);
  if (large.length) {
    const presign = await presignPut(
      gw,
      remote,
      token,
      large.map((o) => o.object_id),
    );
    if (presign.status !== 200) return { ...presign, uploadUrls };
    for (const o of large) {
      const url = presign.body.presigned[o.object_id] as string | undefined;
      if (!url) {
        inline.push(o);
        continue;
      }
      uploadUrls.push(url);
      const put = await fetch(url, { method: 'PUT', body: new Uint8Array(o.content) });
      if (!put.ok) throw new Error(`PUT ${url} answered ${put.status}: ${await put.text()}`);
    }
  }
  if (inline.length) {
    const up = await wire(gw, 'POST', `${remote}/push/objects`, { objects: inline }, { token });
    if (up.status !== 200) return { ...up, uploadUrls };
  }
  const pushed = await wire(
    gw,
    'POST',
    `${remote}/push`,
    {
      bundle: { commits: bundle.commits, snapshots: bundle.snapshots, objects: [] },
      branch: opts.branch ?? 'main',
      force: false,
    },
    { token },
  );
  return { ...pushed, uploadUrls };
}
