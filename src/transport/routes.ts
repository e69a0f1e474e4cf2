import { Readable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import type { MikroORM } from '@mikro-orm/postgresql';
import { type Context, Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import type { AuthEnv } from '../app-env.ts';
import type { Config } from '../config.ts';
import { BadRequestError, NotFoundError, PayloadTooLargeError } from '../errors.ts';
import { pushConcurrency, rateLimit } from '../middleware/limits.ts';
import { resolveRepo, TRANSPORT_WORDING } from '../middleware/resolve-repo.ts';
import { isUuid, type RepoLivenessCache, requireNeed } from '../repos/index.ts';
import { requireLive } from '../repos/live-repo.ts';
import { isObjectId, type ObjectStore } from '../storage/object-store.ts';
import { findServableObject } from './cdn.service.ts';
import { acceptsMsgpack, decodeRequestBody, isMsgpackType, MSGPACK, packr, toJsonSafe } from './codec.ts';
import { fetchResponseStream, fetchResponseValue, planFetch } from './fetch.service.ts';
import { type IdSet, readFetchBody } from './fetch-body.ts';
import { receivePresignedUpload, storeObjects, uploadUrls } from './objects.service.ts';
import { receivePush } from './push.service.ts';
import type { OnPushed } from './push-events.ts';
import { filterObjects, negotiate, readRefs } from './read.service.ts';
import {
  FetchRequest,
  FilterObjectsRequest,
  NegotiateRequest,
  PresignRequest,
  PushObjectsRequest,
  parseWire,
} from './wire-schemas.ts';

export interface TransportDeps {
  orm: MikroORM;
  cache: RepoLivenessCache;
  store: ObjectStore;
  publicUrl: string;
  presignKey: Buffer;
  limits: Config['transport'];
  /** Told of every push that lands, inside its transaction (the app records the webhook event). */
  onPushed: OnPushed;
}

/** msgpack when the client's Accept allows it (the muse client always does), JSON otherwise. */
function reply(c: Context, value: unknown, status: 200 = 200) {
  if (acceptsMsgpack(c.req.header('accept'))) {
    return c.body(new Uint8Array(packr.pack(value)), status, { 'content-type': MSGPACK });
  }
  return c.json(toJsonSafe(value) as object, status);
}

/** A fetch body decoded and checked the general way, `have` as a Set. */
function fetchRequest(contentType: string | undefined, bytes: Uint8Array): { want: string[]; have: IdSet } {
  const req = parseWire(FetchRequest, decodeRequestBody(contentType, bytes));
  return { want: req.want, have: new Set(req.have) };
}

async function readBody(c: Context): Promise<unknown> {
  return decodeRequestBody(c.req.header('content-type'), new Uint8Array(await c.req.arrayBuffer()));
}

/**
 * The muse client uploads a presigned object with one blocking send and reads the answer only
 * after it: a 413 sent early and the socket closed is a "Broken pipe" to it, with no reason.
 * So, as nginx's lingering close does, read and discard the rest of the body first (bounded),
 * and put the detail in the status line too, the only part of it the client prints.
 */
async function refuseAfterReading(c: Context, body: Readable, err: PayloadTooLargeError): Promise<void> {
  const deadline = Date.now() + DISCARD_MS;
  let discarded = 0;
  try {
    for await (const chunk of body) {
      discarded += (chunk as Buffer).length;
      if (discarded > DISCARD_MAX_BYTES || Date.now() > deadline) break;
    }
  } catch {
    // The client gave up: nobody is left to tell.
  }
  const outgoing = (c.env as { outgoing?: { statusMessage: string } } | undefined)?.outgoing;
  if (outgoing) outgoing.statusMessage = err.detail.replace(/[^\x20-\x7e]/g, '?').slice(0, 200);
}
const DISCARD_MAX_BYTES = 1024 * 1024 * 1024;
const DISCARD_MS = 60_000;

const limit = (maxSize: number) =>
  bodyLimit({
    maxSize,
    onError: () => {
      throw new PayloadTooLargeError(`request body is larger than ${maxSize} bytes`);
    },
  });

/**
 * The Muse wire protocol under /{owner}/{slug}/…, the presigned upload target and the /o/
 * object CDN. Every repo route goes through resolveRepo; handlers decode, call one
 * service, encode.
 */
export function transportRoutes(deps: TransportDeps) {
  const { orm, cache, store, limits } = deps;
  const fork = () => orm.em.fork();
  const app = new Hono<AuthEnv>();
  const read = resolveRepo(cache, 'read');
  const write = resolveRepo(cache, 'write');
  const small = limit(16 * 1024 * 1024);
  const pushRate = rateLimit('push', limits.rateLimitPerMinute);
  const fetchRate = rateLimit('fetch', limits.rateLimitPerMinute);
  const onePushAtATime = pushConcurrency(limits.maxConcurrentPushesPerRepo);
  const large = limit(limits.maxBodyBytes);

  app.get('/:owner/:slug/refs', read, async (c) => {
    const refs = await readRefs(cache, c.get('access').repo);
    if (!acceptsMsgpack(c.req.header('accept'))) return c.json(toJsonSafe(refs.value) as object);
    return c.body(refs.msgpack, 200, { 'content-type': MSGPACK });
  });

  app.post('/:owner/:slug/filter-objects', small, read, async (c) => {
    const req = parseWire(FilterObjectsRequest, await readBody(c));
    return reply(c, await filterObjects(fork(), c.var.access.repo.repoId, req.object_ids));
  });

  app.post('/:owner/:slug/push/objects', pushRate, large, write, async (c) => {
    const req = parseWire(PushObjectsRequest, await readBody(c));
    return reply(c, await storeObjects(fork(), store, c.var.access.repo.repoId, req.objects, limits.maxObjectBytes));
  });

  const pushDeps = {
    store,
    cache,
    maxObjectBytes: limits.maxObjectBytes,
    maxCloneBytes: limits.maxCloneBytes,
    onPushed: deps.onPushed,
  };
  app.post('/:owner/:slug/push', pushRate, large, write, onePushAtATime, async (c) =>
    reply(c, await receivePush(fork, pushDeps, c.var.access, await readBody(c))),
  );

  app.post('/:owner/:slug/negotiate', small, read, async (c) => {
    const req = parseWire(NegotiateRequest, await readBody(c));
    return reply(c, await negotiate(fork(), c.var.access.repo.repoId, req.want, req.have));
  });

  // Clone is refs + fetch with an empty `have`: one handler for both.
  app.post('/:owner/:slug/fetch', fetchRate, limit(32 * 1024 * 1024), read, async (c) => {
    const contentType = c.req.header('content-type');
    const bytes = new Uint8Array(await c.req.arrayBuffer());
    // The muse client's shape is read in place (a whole history of `have` ids is never decoded);
    // anything else the general way, with its detailed refusals.
    const { want, have } = (isMsgpackType(contentType) && readFetchBody(bytes)) || fetchRequest(contentType, bytes);
    const { repo } = c.var.access;
    const em = fork();
    const plan = await planFetch(em, repo.repoId, want, have);
    if (!acceptsMsgpack(c.req.header('accept'))) {
      return c.json(toJsonSafe(await fetchResponseValue(em, store, repo.repoId, plan)) as object);
    }
    return c.body(await fetchResponseStream(em, store, repo.repoId, plan), 200, { 'content-type': MSGPACK });
  });

  app.post('/:owner/:slug/presign', small, read, async (c) => {
    const req = parseWire(PresignRequest, await readBody(c));
    const { repo } = c.var.access;
    // The cache that resolved the repo may be a moment stale; an upload URL (for S3, one to the
    // bucket that nothing here checks again) must not be handed out for a deleted repo.
    await requireLive(fork(), repo.repoId);
    if (req.direction === 'get') return reply(c, { presigned: {}, inline: req.object_ids });
    const { user } = requireNeed(c.var.access, 'write', {
      ...TRANSPORT_WORDING,
      unauthorized: 'uploading needs a token: run `muse auth login`',
    });
    const ttl = Math.min(req.ttl_seconds ?? limits.presignTtlSeconds, limits.presignTtlSeconds);
    const presigned = await uploadUrls(deps, user.userId, repo.repoId, req.object_ids, ttl);
    return reply(c, { presigned, inline: [] });
  });

  // The signed URL is the credential: no Authorization header, no repo resolution by name.
  app.put('/presigned/:repo_id/:object_id', pushRate, async (c) => {
    const grant = {
      repoId: c.req.param('repo_id'),
      objectId: c.req.param('object_id'),
      maxBytes: Number(c.req.query('max')),
      expires: Number(c.req.query('exp')),
      userId: c.req.query('u') ?? '',
    };
    if (
      !isObjectId(grant.objectId) ||
      !Number.isSafeInteger(grant.maxBytes) ||
      !Number.isSafeInteger(grant.expires) ||
      !isUuid(grant.userId)
    ) {
      throw new BadRequestError('malformed signed URL', 'invalid_signature');
    }
    const body = c.req.raw.body ? Readable.fromWeb(c.req.raw.body as WebReadableStream) : null;
    try {
      const stored = await receivePresignedUpload(
        fork,
        store,
        deps.presignKey,
        grant,
        c.req.query('sig') ?? '',
        Number(c.req.header('content-length') ?? 'NaN'),
        body,
      );
      return reply(c, stored);
    } catch (err) {
      if (err instanceof PayloadTooLargeError && body) await refuseAfterReading(c, body, err);
      throw err;
    }
  });

  app.get('/o/:object_id', async (c) => {
    const objectId = c.req.param('object_id');
    const found = await findServableObject(fork(), c.var.user, objectId);
    const etag = `"${objectId}"`;
    // Short-lived caching only: a delete or a visibility change must be able to hide these bytes.
    const headers = {
      etag,
      'cache-control': found.public ? 'public, max-age=60' : 'private, no-cache',
      // A browser signed in to the pages is authorized by its session cookie (app.ts).
      vary: 'Authorization, Cookie',
    };
    if (c.req.header('if-none-match') === etag) return c.body(null, 304, headers);
    // Opened before the answer starts: a store outage is a 503 here, not a cut-off 200.
    const stream = await store.open(objectId);
    return c.body(Readable.toWeb(stream) as unknown as ReadableStream, 200, {
      ...headers,
      'content-type': 'application/octet-stream',
      'content-length': String(found.size),
      // Bytes someone pushed are never rendered on the hub's origin: saved, not sniffed into HTML.
      'content-disposition': 'attachment',
      'x-content-type-options': 'nosniff',
    });
  });

  app.all('/o/*', () => {
    throw new NotFoundError('object not found', 'object_not_found');
  });
  return app;
}
