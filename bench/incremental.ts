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
import { buildRepo, packr, pushRepo } from './seed.ts';
import { soloHub } from './solo-hub.ts';

const ROUNDS = 3;
const REQUESTS = 300;
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
    /** p50 of REQUESTS requests one after another, after 50 to warm up, to 0.01 ms. */
    const p50 = async (url: string, body: Uint8Array) => {
      const post = async () => {
        const res = await fetch(url, { method: 'POST', headers: msgpack, body });
        if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`);
        await res.arrayBuffer();
      };
      for (let i = 0; i < 50; i++) await post();
      const times: number[] = [];
      for (let i = 0; i < REQUESTS; i++) {
        const t0 = performance.now();
        await post();
        times.push(performance.now() - t0);
      }
      return times.sort((a, b) => a - b)[REQUESTS / 2]!;
    };
    const rows = [];
    for (let round = 1; round <= ROUNDS; round++) {
      const above: number[] = [];
      const row: Record<string, number | string> = { round };
      for (const c of cases) {
        const floor = await p50(`http://127.0.0.1:${bare.port}/fetch/${c.name}`, c.body);
        const gateway = await p50(c.url, c.body);
        row[`${c.name} gateway ms`] = Math.round(gateway * 100) / 100;
        row[`${c.name} floor ms`] = Math.round(floor * 100) / 100;
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
