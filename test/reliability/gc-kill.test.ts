import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { createRepo } from '../helpers/builders.ts';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { makeCommit, makeObject, makeSnapshot, pushAll, type WireObject, wire } from '../helpers/muse.ts';
import { eventually, exited, runCli } from '../helpers/process.ts';

/**
 * SIGKILL of a real `musehub gc` process in the middle of its sweep (issue 25), on the
 * filesystem store: thousands of unnamed loose objects and many small packs, some of whose bytes
 * repos still name. Killed once files have started to go: fsck (bytes re-hashed) passes, every
 * repo clones byte-identical, and the next collection finishes what the killed one left.
 */
let gw: TestGateway;
let token: string;
let cliEnv: Record<string, string>;
beforeAll(async () => {
  gw = await startTestGateway({ MUSEHUB_OBJECT_STORE: 'filesystem' });
  ({ token } = await gw.user('alice'));
  cliEnv = { DATABASE_URL: gw.databaseUrl, MUSEHUB_DATA_DIR: gw.dataDir };
});
afterAll(() => gw?.close());

const LOOSE = 2500;
const PACKS = 100;

/** Bytes no row names, written the way an upload places them: one loose file each. */
async function looseGarbage(n: number) {
  for (let i = 0; i < n; i++) {
    const o = makeObject(randomBytes(64 + (i % 200)));
    const received = await gw.store.receive(o.object_id, Readable.from([o.content]), 1 << 20);
    await received.place();
  }
}

async function countLoose() {
  let n = 0;
  for await (const copy of gw.store.listStored()) if (copy.pack === null) n++;
  return n;
}

test('a gc killed mid-sweep loses nothing: fsck passes, clones are identical, the next gc finishes the work', async () => {
  // Repos whose bytes must survive: each push is a small pack; one repo also names a loose file.
  const namedLoose = makeObject(randomBytes(300));
  await (await gw.store.receive(namedLoose.object_id, Readable.from([namedLoose.content]), 1 << 20)).place();
  const keepers: { remote: string; commitId: string; objects: WireObject[] }[] = [];
  for (let i = 0; i < 8; i++) {
    const repo = await createRepo(gw, token, { name: `keeper ${i}`, visibility: 'public' });
    const files: Record<string, Buffer> = { 'a.txt': randomBytes(500), 'b.mid': randomBytes(900) };
    if (i === 0) files['loose.wav'] = namedLoose.content;
    const { snapshot, objects } = makeSnapshot(files);
    const commit = makeCommit({ snapshotId: snapshot.snapshot_id });
    const remote = `/alice/${repo.slug}`;
    expect((await pushAll(gw, remote, token, { commits: [commit], snapshots: [snapshot], objects })).status).toBe(200);
    keepers.push({ remote, commitId: commit.commit_id, objects });
  }
  await looseGarbage(LOOSE);
  for (let i = 0; i < PACKS; i++) {
    await gw.store.putMany(
      [randomBytes(700), randomBytes(1200)].map((b) => ({ objectId: makeObject(b).object_id, bytes: b })),
    );
  }
  const looseBefore = await countLoose();
  expect(looseBefore).toBe(LOOSE + 1);

  const gc = spawn(process.execPath, [path.resolve('bin/musehub.mjs'), 'gc', '--grace', '0s', '--json'], {
    env: { ...process.env, LOG_LEVEL: 'silent', ...cliEnv },
    stdio: 'ignore',
  });
  // Killed as soon as the sweep is seen removing files, not after a guessed delay.
  await eventually(async () => gc.exitCode === null && (await countLoose()) < looseBefore, 120_000, 10);
  gc.kill('SIGKILL');
  expect(await exited(gc)).toBeNull();
  expect(gc.signalCode).toBe('SIGKILL');

  await gw.expectIntegrity();
  const clone = async (k: (typeof keepers)[number]) => {
    const res = await wire(gw, 'POST', `${k.remote}/fetch`, { want: [k.commitId], have: [] });
    expect(res.status).toBe(200);
    const got = new Map<string, Buffer>(
      res.body.objects.map((o: { object_id: string; content: Uint8Array }) => [o.object_id, Buffer.from(o.content)]),
    );
    expect(got.size).toBe(k.objects.length);
    for (const o of k.objects) expect(got.get(o.object_id)?.equals(o.content)).toBe(true);
  };
  for (const k of keepers) await clone(k);

  // The killed run left work behind, and the next run does it.
  const next = await runCli(['gc', '--grace', '0s', '--json'], cliEnv);
  expect(next.code, next.stderr).toBe(0);
  const report = JSON.parse(next.stdout);
  expect(report.removed.objects).toBeGreaterThan(0);
  expect(await countLoose()).toBe(1);
  const fsck = await runCli(['fsck', '--json'], cliEnv);
  expect(fsck.code, fsck.stdout).toBe(0);
  const dry = JSON.parse((await runCli(['gc', '--grace', '0s', '--dry-run', '--json'], cliEnv)).stdout);
  expect(dry.removed).toEqual({ objects: 0, bytes: 0 });
  for (const k of keepers) await clone(k);
}, 300_000);
