import { createHmac } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { createRepo, expectRepo404, type RepoBody } from '../helpers/builders.ts';
import { sql } from '../helpers/db.ts';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { eventually } from '../helpers/process.ts';

interface Received {
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** A real HTTP receiver on loopback whose answers the test scripts. */
async function startReceiver(statuses: number[]) {
  const received: Received[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      received.push({ headers: req.headers, body });
      res.statusCode = statuses.shift() ?? 200;
      res.end('ok');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
  return { url, received, close: () => new Promise((r) => server.close(r)) };
}

type U = { token: string; userId: string; username: string };
let gw: TestGateway;
let owner: U;
let repo: RepoBody;

beforeAll(async () => {
  gw = await startTestGateway({ MUSEHUB_WEBHOOK_POLL_MS: '20', MUSEHUB_WEBHOOK_BACKOFF_MS: '50' });
  owner = await gw.user('olive');
  repo = await createRepo(gw, owner.token, { visibility: 'public' });
});
afterAll(() => gw?.close());

const hooks = (repoId = repo.repoId) => `/api/v1/repos/${repoId}/webhooks`;
const sign = (secret: string, body: string) => `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;

test('an issue event arrives signed at a loopback receiver', async () => {
  const receiver = await startReceiver([]);
  try {
    const created = await gw.request('POST', hooks(), {
      token: owner.token,
      json: { url: receiver.url, events: ['issue.opened'] },
    });
    expect(created.status).toBe(201);
    const { secret, webhookId } = await created.json();
    expect(secret).toMatch(/^[\w-]{20,}$/);
    const listed = await (await gw.request('GET', hooks(), { token: owner.token })).json();
    expect(listed.webhooks).toEqual([expect.objectContaining({ webhookId, url: receiver.url, active: true })]);
    expect(JSON.stringify(listed)).not.toContain(secret);

    await gw.request('POST', `/api/v1/repos/${repo.repoId}/issues`, { token: owner.token, json: { title: 'Hook me' } });
    const [delivery] = await eventually(() => receiver.received.length >= 1 && receiver.received);
    expect(delivery!.headers['x-musehub-event']).toBe('issue.opened');
    expect(delivery!.headers['x-musehub-signature-256']).toBe(sign(secret, delivery!.body));
    expect(JSON.parse(delivery!.body)).toMatchObject({
      event: 'issue.opened',
      repo: { repoId: repo.repoId, owner: 'olive', slug: repo.slug },
      issue: { number: 1, title: 'Hook me', author: 'olive' },
    });
    const [row] = await sql(
      gw.databaseUrl,
      'SELECT status, attempts FROM musehub_webhook_deliveries WHERE delivery_id = $1',
      [delivery!.headers['x-musehub-delivery']],
    );
    expect(row).toEqual({ status: 'delivered', attempts: 1 });
    // Not subscribed: a comment event produces no delivery.
    await gw.request('POST', `/api/v1/repos/${repo.repoId}/issues/1/comments`, {
      token: owner.token,
      json: { body: 'x' },
    });
    const pending = await sql(
      gw.databaseUrl,
      `SELECT count(*)::int AS n FROM musehub_webhook_deliveries WHERE event <> 'issue.opened'`,
    );
    expect(pending).toEqual([{ n: 0 }]);
    expect((await gw.request('DELETE', `${hooks()}/${webhookId}`, { token: owner.token })).status).toBe(204);
  } finally {
    await receiver.close();
  }
});

test('a delivery the receiver answers 500 is retried with backoff until it succeeds', async () => {
  const receiver = await startReceiver([500, 500]);
  try {
    const { secret, webhookId } = await (
      await gw.request('POST', hooks(), {
        token: owner.token,
        json: { url: receiver.url, events: ['*'], secret: 'shared-secret-1' },
      })
    ).json();
    expect(secret).toBe('shared-secret-1');
    await gw.request('POST', `/api/v1/repos/${repo.repoId}/proposals`, {
      token: owner.token,
      json: { title: 'p', fromBranch: 'dev' },
    });
    await eventually(() => receiver.received.length >= 3);
    const ids = new Set(receiver.received.map((r) => r.headers['x-musehub-delivery']));
    expect(ids.size).toBe(1); // the same delivery, three attempts
    for (const r of receiver.received) expect(r.headers['x-musehub-signature-256']).toBe(sign(secret, r.body));
    const rows = await eventually(async () => {
      const r = await sql(
        gw.databaseUrl,
        'SELECT status, attempts, last_status_code FROM musehub_webhook_deliveries WHERE webhook_id = $1',
        [webhookId],
      );
      return r[0]?.status === 'delivered' && r;
    });
    expect(rows).toEqual([{ status: 'delivered', attempts: 3, last_status_code: 200 }]);
    await gw.request('DELETE', `${hooks()}/${webhookId}`, { token: owner.token });
  } finally {
    await receiver.close();
  }
});

test('a receiver that keeps failing: the delivery is marked failed after the attempt limit', async () => {
  const receiver = await startReceiver(Array(20).fill(503));
  try {
    const { webhookId } = await (
      await gw.request('POST', hooks(), { token: owner.token, json: { url: receiver.url, events: ['issue.opened'] } })
    ).json();
    await gw.request('POST', `/api/v1/repos/${repo.repoId}/issues`, { token: owner.token, json: { title: 'doomed' } });
    const rows = await eventually(async () => {
      const r = await sql(
        gw.databaseUrl,
        'SELECT status, attempts, last_error FROM musehub_webhook_deliveries WHERE webhook_id = $1',
        [webhookId],
      );
      return r[0]?.status === 'failed' && r;
    }, 30_000);
    expect(rows).toEqual([{ status: 'failed', attempts: 6, last_error: 'receiver answered 503' }]);
    expect(receiver.received.length).toBe(6);
    await gw.request('DELETE', `${hooks()}/${webhookId}`, { token: owner.token });
  } finally {
    await receiver.close();
  }
});

test.each([
  [{ url: 'not a url', events: ['push'] }, /url/],
  [{ url: 'ftp://example.com/x', events: ['push'] }, /http/],
  [{ url: 'http://user:pw@example.com/', events: ['push'] }, /credentials/],
  [{ url: 'http://example.com/', events: [] }, /events/],
  [{ url: 'http://example.com/', events: ['issue.exploded'] }, /unknown: issue.exploded/],
  [{ url: 'http://example.com/', events: ['push'], secret: 'short' }, /secret/],
])('400 for %o', async (json, detail) => {
  const res = await gw.request('POST', hooks(), { token: owner.token, json });
  expect(res.status).toBe(400);
  expect((await res.json()).detail).toMatch(detail);
});

test('webhooks are for admins: a writer gets 403, a stranger to a private repo 404', async () => {
  const writer = await gw.user('walt');
  await gw.request('PUT', `/api/v1/repos/${repo.repoId}/collaborators/walt`, {
    token: owner.token,
    json: { permission: 'write' },
  });
  expect((await gw.request('GET', hooks(), { token: writer.token })).status).toBe(403);
  expect(
    (await gw.request('POST', hooks(), { token: writer.token, json: { url: 'http://x.test/', events: ['push'] } }))
      .status,
  ).toBe(403);
  const priv = await createRepo(gw, owner.token);
  await expectRepo404(await gw.request('GET', hooks(priv.repoId), { token: writer.token }));
  await expectRepo404(
    await gw.request('POST', hooks(priv.repoId), {
      token: writer.token,
      json: { url: 'http://x.test/', events: ['push'] },
    }),
  );
  await expectRepo404(
    await gw.request('DELETE', `${hooks(priv.repoId)}/00000000-0000-4000-8000-000000000000`, { token: writer.token }),
  );
});
