/**
 * `npm run bench:incremental`: an incremental fetch (one new commit; the client sends its whole
 * history as `have`) at have = 999 and have = 9,999, against bare Hono receiving and decoding the
 * same request and answering the same bytes, in three alternating rounds: the gateway's own time
 * above that floor should not grow with the client's history (goal: 9,999 ≤ 1.2 × 999).
 * `npm run bench` has the same rows, once.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { startBaseline } from './baseline.ts';
import { sequential } from './measure.ts';
import { buildRepo, packr, pushRepo } from './seed.ts';
import { soloHub } from './solo-hub.ts';

const ROUNDS = 3;
const msgpack = { accept: 'application/x-msgpack', 'content-type': 'application/x-msgpack' };

const hub = await soloHub('incremental');
try {
  const { tmp, token } = hub;
  const cases: { name: string; url: string; body: Uint8Array }[] = [];
  const answers = path.join(tmp, 'answers');
  await fs.mkdir(answers);
  for (const commits of [1000, 10_000]) {
    const name = `have-${commits - 1}`;
    const url = await hub.createRepo(name);
    const repo = buildRepo({ commits, objects: commits, branches: 1, filesPerSnapshot: 20, objectSize: () => 512 });
    await pushRepo(url, token, repo, 1);
    const ids = repo.commits.map((c) => c.commit_id as string);
    const body = new Uint8Array(packr.pack({ want: ids.slice(-1), have: ids.slice(0, -1) }));
    const res = await fetch(`${url}/fetch`, { method: 'POST', headers: msgpack, body });
    if (!res.ok) throw new Error(`${name}: HTTP ${res.status}`);
    await fs.writeFile(path.join(answers, name), Buffer.from(await res.arrayBuffer()));
    cases.push({ name, url: `${url}/fetch`, body });
  }
  const bare = await startBaseline(Buffer.from('-'), 1, answers);
  try {
    const post = (url: string, body: Uint8Array) => async () => {
      const res = await fetch(url, { method: 'POST', headers: msgpack, body });
      if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`);
      await res.arrayBuffer();
    };
    const rows = [];
    for (let round = 1; round <= ROUNDS; round++) {
      const above: number[] = [];
      const row: Record<string, number | string> = { round };
      for (const c of cases) {
        const floor = (
          await sequential(bare.tree, 'floor', post(`http://127.0.0.1:${bare.port}/fetch/${c.name}`, c.body))
        ).p50ms;
        const gateway = (await sequential(hub.gw, c.name, post(c.url, c.body))).p50ms;
        row[`${c.name} gateway ms`] = gateway;
        row[`${c.name} floor ms`] = floor;
        above.push(gateway - floor);
      }
      row['above floor, 9,999 / 999'] = Math.round((above[1]! / above[0]!) * 100) / 100;
      rows.push(row);
    }
    console.table(rows);
  } finally {
    await bare.stop();
  }
} finally {
  await hub.stop();
}
