import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createRepo, type RepoBody } from '../helpers/builders.ts';
import { sql } from '../helpers/db.ts';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { eventually } from '../helpers/process.ts';
import { startReceiver } from '../helpers/receiver.ts';

/**
 * Webhooks cannot be pointed inside the network: by default a webhook may only reach public
 * addresses, at creation and again at every delivery, and MUSEHUB_WEBHOOK_ALLOWED_HOSTS opens
 * exactly what it names. No test here sends a byte anywhere but loopback: internal addresses
 * other than loopback are only ever refused before a connection is made.
 */
type U = { token: string; username: string };
const gateways: TestGateway[] = [];
afterAll(() => Promise.all(gateways.map((g) => g.close())));

async function gatewayWith(allowed: string, env: Record<string, string> = {}) {
  const gw = await startTestGateway({
    MUSEHUB_WEBHOOK_ALLOWED_HOSTS: allowed,
    MUSEHUB_WEBHOOK_POLL_MS: '20',
    MUSEHUB_WEBHOOK_BACKOFF_MS: '50',
    ...env,
  });
  gateways.push(gw);
  const owner = await gw.user('olive');
  const repo = await createRepo(gw, owner.token, { visibility: 'public' });
  return { gw, owner, repo };
}

const create = (gw: TestGateway, owner: U, repo: RepoBody, url: string, extra: object = {}) =>
  gw.request('POST', `/api/v1/repos/${repo.repoId}/webhooks`, {
    token: owner.token,
    // Inactive: creation is what is tested; nothing may ever be sent to these addresses.
    json: { url, events: ['*'], active: false, ...extra },
  });

const INTERNAL: [url: string, rule: string][] = [
  ['http://127.0.0.1:5432/', 'loopback'],
  ['http://127.9.9.9/hook', 'loopback'],
  ['http://2130706433/', 'loopback'], // 127.0.0.1 written as one number
  ['http://0x7f.0.0.1/', 'loopback'],
  ['http://[::1]:9/', 'loopback'],
  ['http://[::ffff:127.0.0.1]:9/', 'loopback'],
  ['http://localhost:9/', 'loopback'], // a host name that resolves to loopback
  ['http://10.1.2.3/hook', 'private'],
  ['http://172.20.0.5/', 'private'],
  ['http://192.168.0.10/', 'private'],
  ['http://100.64.0.1/', 'private'],
  ['http://[fd00::1]/', 'private'],
  ['http://[::ffff:10.0.0.1]/', 'private'],
  ['http://169.254.169.254/latest/meta-data/', 'link-local'],
  ['http://[fe80::1]/', 'link-local'],
  ['http://[64:ff9b::a9fe:a9fe]/', 'link-local'], // NAT64 spelling of 169.254.169.254
  ['http://0.0.0.0:9/', 'unspecified'],
  ['http://224.0.0.1/', 'multicast'],
  ['http://[2002:7f00:1::]:9/', 'loopback'], // 6to4 spelling of 127.0.0.1
  ['http://[64:ff9b:1:7f00:0:100::]:9/', 'loopback'], // local-use NAT64 spelling of 127.0.0.1
  ['http://[::ffff:0:7f00:1]:9/', 'loopback'], // IPv4-translated spelling of 127.0.0.1
  ['http://198.18.0.1/', 'special-use'],
  ['http://[2001:db8::1]/', 'special-use'],
];

describe('by default', () => {
  let ctx: Awaited<ReturnType<typeof gatewayWith>>;
  beforeAll(async () => {
    ctx = await gatewayWith('');
  });

  test.each(INTERNAL)('creating a webhook to %s is a 422 naming the %s rule', async (url, rule) => {
    const before = await ctx.gw.fingerprint();
    const res = await create(ctx.gw, ctx.owner, ctx.repo, url);
    expect(res.status).toBe(422);
    const body = await res.json();
    expect(body.code).toBe('webhook_target_refused');
    expect(body.detail).toMatch(new RegExp(`^url: .*a ${rule} address; webhooks may only reach public addresses`));
    expect(await ctx.gw.fingerprint()).toBe(before);
  });

  test('a public address is accepted', async () => {
    // Inactive (create above): accepted, and never contacted.
    expect((await create(ctx.gw, ctx.owner, ctx.repo, 'https://8.8.8.8/hook')).status).toBe(201);
  });

  test('delivery checks again: a stored webhook pointing inside fails at once and sends nothing', async () => {
    const receiver = await startReceiver();
    try {
      // As if created under an older allowlist, or its name now resolves somewhere else.
      const urls = [
        `http://127.0.0.1:${receiver.port}/a`,
        `http://localhost:${receiver.port}/b`,
        `http://[::ffff:127.0.0.1]:${receiver.port}/c`,
      ];
      for (const url of urls) {
        await sql(
          ctx.gw.databaseUrl,
          `INSERT INTO musehub_webhooks (webhook_id, repo_id, url, events, secret, created_by)
           SELECT gen_random_uuid(), $1, $2, '{issues}', 's', owner_user_id FROM musehub_repos WHERE repo_id = $1`,
          [ctx.repo.repoId, url],
        );
      }
      const issue = await ctx.gw.request('POST', `/api/v1/repos/${ctx.repo.repoId}/issues`, {
        token: ctx.owner.token,
        json: { title: 'probe' },
      });
      expect(issue.status).toBe(201);
      const rows = await eventually(async () => {
        const r = await sql<{ url: string; status: string; attempts: number; last_error: string }>(
          ctx.gw.databaseUrl,
          `SELECT w.url, d.status, d.attempts, d.last_error FROM musehub_webhook_deliveries d
             JOIN musehub_webhooks w USING (webhook_id) WHERE d.repo_id = $1 ORDER BY w.url`,
          [ctx.repo.repoId],
        );
        return r.length === 3 && r.every((d) => d.status === 'failed') && r;
      });
      for (const row of rows) {
        expect(row.attempts, row.url).toBe(1);
        expect(row.last_error, row.url).toMatch(/^refused: .*loopback address/);
      }
      expect(rows.find((r) => r.url.includes('localhost'))!.last_error).toMatch(/localhost resolves to/);
      expect(receiver.received).toEqual([]);
    } finally {
      await receiver.close();
    }
  });
});

test('the allowlist opens exactly what it names', async () => {
  const loopback = await gatewayWith('loopback');
  for (const url of ['http://127.0.0.1:9/', 'http://[::1]:9/', 'http://[::ffff:127.0.0.1]:9/', 'http://localhost:9/']) {
    expect((await create(loopback.gw, loopback.owner, loopback.repo, url)).status, url).toBe(201);
  }
  for (const url of ['http://10.1.2.3/', 'http://169.254.169.254/']) {
    expect((await create(loopback.gw, loopback.owner, loopback.repo, url)).status, url).toBe(422);
  }
  const named = await gatewayWith('10.0.0.0/8, localhost');
  for (const url of ['http://10.1.2.3/', 'http://localhost:9/']) {
    expect((await create(named.gw, named.owner, named.repo, url)).status, url).toBe(201);
  }
  for (const url of ['http://127.0.0.1:9/', 'http://172.16.0.1/', 'http://169.254.169.254/']) {
    expect((await create(named.gw, named.owner, named.repo, url)).status, url).toBe(422);
  }
});

test('a redirect is never followed, not even to an allowed address', async () => {
  const { gw, owner, repo } = await gatewayWith('loopback');
  const inside = await startReceiver();
  const redirecting = await startReceiver(Array(10).fill({ status: 302, location: `${inside.url}?followed=1` }));
  try {
    expect((await create(gw, owner, repo, redirecting.url, { active: true, events: ['issues'] })).status).toBe(201);
    await gw.request('POST', `/api/v1/repos/${repo.repoId}/issues`, { token: owner.token, json: { title: 'r' } });
    const [row] = await eventually(() =>
      sql<{ last_status_code: number; last_error: string }>(
        gw.databaseUrl,
        'SELECT last_status_code, last_error FROM musehub_webhook_deliveries WHERE repo_id = $1 AND attempts >= 2',
        [repo.repoId],
      ).then((r) => r.length > 0 && r),
    );
    expect(row).toEqual({ last_status_code: 302, last_error: 'receiver answered 302; redirects are not followed' });
    expect(redirecting.received.length).toBeGreaterThanOrEqual(2);
    expect(inside.received).toEqual([]);
  } finally {
    await Promise.all([inside.close(), redirecting.close()]);
  }
});

test('pending deliveries of a deleted repo are marked failed and never sent', async () => {
  // The dispatcher's timer never fires here: each batch is run by hand.
  const { gw, owner, repo } = await gatewayWith('loopback', { MUSEHUB_WEBHOOK_POLL_MS: '600000' });
  const live = await createRepo(gw, owner.token, { visibility: 'public' });
  const receiver = await startReceiver();
  try {
    for (const r of [repo, live]) {
      expect((await create(gw, owner, r, receiver.url, { active: true, events: ['issues'] })).status).toBe(201);
      const issue = await gw.request('POST', `/api/v1/repos/${r.repoId}/issues`, {
        token: owner.token,
        json: { title: 'queued' },
      });
      expect(issue.status).toBe(201);
    }
    expect((await gw.request('DELETE', `/api/v1/repos/${repo.repoId}`, { token: owner.token })).status).toBe(204);
    expect(await gw.dispatcher.runOnce()).toBe(2);
    const rows = await sql(
      gw.databaseUrl,
      'SELECT repo_id, status, last_error FROM musehub_webhook_deliveries ORDER BY status',
    );
    expect(rows).toEqual([
      { repo_id: live.repoId, status: 'delivered', last_error: null },
      { repo_id: repo.repoId, status: 'failed', last_error: 'repository was deleted' },
    ]);
    expect(receiver.received.map((r) => JSON.parse(r.body).repo.repoId)).toEqual([live.repoId]);
    await gw.expectIntegrity();
  } finally {
    await receiver.close();
  }
});
