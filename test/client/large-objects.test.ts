import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, test } from 'vitest';
import { createRepo } from '../helpers/builders.ts';
import { listKeys, s3Env, startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { expectSameTree, MuseUser } from './muse.ts';

/**
 * A 20 MiB file on each object store. The client presigns every object over 64 KiB: on the
 * filesystem and postgres stores the URL is the gateway's own signed route, on S3 it is the
 * bucket's, so the bytes go straight from the client to Swift and never through the gateway.
 */
const stores: [string, () => Promise<Record<string, string>>, 'gateway' | 'bucket'][] = [
  ['filesystem', async () => ({ MUSEHUB_OBJECT_STORE: 'filesystem' }), 'gateway'],
  ['postgres', async () => ({ MUSEHUB_OBJECT_STORE: 'postgres' }), 'gateway'],
  ['s3', () => s3Env(), 'bucket'],
];

let root: string;
beforeAll(async () => {
  root = await fs.mkdtemp('/tmp/musehub-client-large-');
});
afterAll(() => fs.rm(root, { recursive: true, force: true }));

/** PUTs the gateway answered on its signed upload route, from its own metrics. */
async function presignedPuts(gw: TestGateway): Promise<number> {
  const text = await (await fetch(`${gw.url}/metrics`)).text();
  const line = text
    .split('\n')
    .find(
      (l) =>
        l.startsWith('musehub_http_request_duration_seconds_count') &&
        l.includes('route="/presigned/:repo_id/:object_id"') &&
        l.includes('status="200"'),
    );
  return line ? Number(line.split(' ').at(-1)) : 0;
}

describe.each(stores)('a 20 MiB file on the %s store', (store, env, uploadsTo) => {
  let gw: TestGateway;
  let storeEnv: Record<string, string>;
  beforeAll(async () => {
    storeEnv = await env();
    gw = await startTestGateway(storeEnv);
  });
  afterAll(() => gw?.close());

  test(`push (presigned upload) → clone: the same bytes, ${store} store`, async () => {
    const wrapper = inject('museWrapper');
    const alice = new MuseUser(wrapper, root, `alice-${store}`);
    const bob = new MuseUser(wrapper, root, `bob-${store}`);
    const { token } = await gw.user('alice');
    const repo = await createRepo(gw, token, { name: 'stems', visibility: 'public' });
    const remote = `${gw.url}/alice/${repo.slug}`;
    const big = randomBytes(20 * 1024 * 1024);
    const dir = `${store}-work`;
    await alice.newRepo(dir, { 'stems/bass.wav': big, 'small.txt': 'small' });
    await alice.login(gw.url, token);
    await alice.ok(dir, 'remote', 'add', 'origin', remote);
    const pushed = await alice.ok(dir, 'push', 'origin', 'main');
    expect(pushed).toContain('Uploading 1 large object(s) directly');
    expect(pushed).toMatch(/✅ Pushed 1 commit\(s\)/);
    expect(await presignedPuts(gw)).toBe(uploadsTo === 'gateway' ? 1 : 0);
    if (uploadsTo === 'bucket') {
      const id = createHash('sha256').update(big).digest('hex');
      const keys = [...(await listKeys(storeEnv)).keys()];
      expect(keys.some((k) => k.includes(id))).toBe(true);
    }

    await bob.ok('.', 'clone', remote, path.join(root, `${store}-clone`));
    await expectSameTree(path.join(root, `${store}-clone`), path.join(root, dir));
    const cloned = await fs.readFile(path.join(root, `${store}-clone`, 'stems/bass.wav'));
    expect(createHash('sha256').update(cloned).digest('hex')).toBe(createHash('sha256').update(big).digest('hex'));
    await gw.expectIntegrity();
  });
});
