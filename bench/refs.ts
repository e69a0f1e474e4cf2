/**
 * `npm run bench:refs`: refs (ls-remote) alone, in about a minute — one gateway worker against
 * bare Hono answering the same bytes from memory, anonymous and with a token, in alternating
 * rounds (the bench's own median per row). For looking at the wire's hot path on its own;
 * `npm run bench` has the same rows among the rest.
 */
import { startBaseline } from './baseline.ts';
import { load } from './measure.ts';
import type { Row } from './row.ts';
import { buildRepo, pushRepo } from './seed.ts';
import { soloHub } from './solo-hub.ts';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const msgpack = { accept: 'application/x-msgpack' };
const round = (n: number) => Math.round(n * 100) / 100;

const hub = await soloHub('refs');
try {
  const { gw, token } = hub;
  const remote = await hub.createRepo('refs');
  await pushRepo(remote, token, buildRepo({ commits: 20, objects: 50, branches: 3, filesPerSnapshot: 20 }), 1);
  const refsBytes = Buffer.from(await (await fetch(`${remote}/refs`, { headers: msgpack })).arrayBuffer());
  const bare = await startBaseline(refsBytes, 1);
  try {
    const bareUrl = `http://127.0.0.1:${bare.port}/refs`;
    await load(null, 'warm-up', { url: bareUrl, duration: 3, headers: msgpack });
    await load(gw, 'warm-up', { url: `${remote}/refs`, duration: 3, headers: msgpack });
    const rounds: Record<'bare' | 'anonymous' | 'token', Row>[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      rounds.push({
        bare: await load(bare.tree, 'bare Hono, refs bytes from memory', { url: bareUrl, headers: msgpack }),
        anonymous: await load(gw, 'refs, anonymous', { url: `${remote}/refs`, headers: msgpack }),
        token: await load(gw, 'refs, with token', {
          url: `${remote}/refs`,
          headers: { ...msgpack, authorization: `Bearer ${token}` },
        }),
      });
    }
    const ratio = (r: (typeof rounds)[number], k: 'anonymous' | 'token') => r[k].reqPerSec! / r.bare.reqPerSec!;
    console.table(
      rounds.map((r, i) => ({
        round: i + 1,
        'bare Hono req/s': r.bare.reqPerSec,
        'anonymous req/s': r.anonymous.reqPerSec,
        'anonymous × bare': round(ratio(r, 'anonymous')),
        'token req/s': r.token.reqPerSec,
        'token × bare': round(ratio(r, 'token')),
        'gateway peak RSS MiB': Math.max(r.anonymous.peakRssMiB, r.token.peakRssMiB),
      })),
    );
    const median = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    console.log(
      `refs, median of ${ROUNDS} rounds: anonymous ${round(median(rounds.map((r) => ratio(r, 'anonymous'))))} × bare Hono (goal ≥ 0.8), ` +
        `with a token ${round(median(rounds.map((r) => ratio(r, 'token'))))} × (goal ≥ 0.7)`,
    );
  } finally {
    await bare.stop();
  }
} finally {
  await hub.stop();
}
