import { createHmac } from 'node:crypto';
import { afterAll, afterEach, beforeAll, expect, test } from 'vitest';
import { createRepo, expectRepo404, type RepoBody } from '../helpers/builders.ts';
import { sql } from '../helpers/db.ts';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { makeCommit, makeSnapshot, pushAll } from '../helpers/muse.ts';
import { eventually } from '../helpers/process.ts';
import { startReceiver } from '../helpers/receiver.ts';

type U = { token: string; userId: string; username: string };
let gw: TestGateway;
let owner: U;
let repo: RepoBody;

beforeAll(async () => {
  // The receivers listen on loopback, which the default policy refuses (tested below).
  gw = await startTestGateway({
    MUSEHUB_WEBHOOK_POLL_MS: '20',
    MUSEHUB_WEBHOOK_BACKOFF_MS: '50',
    MUSEHUB_WEBHOOK_ALLOWED_HOSTS: 'loopback',
  });
  owner = await gw.user('olive');
  repo = await createRepo(gw, owner.token, { visibility: 'public' });
});
afterAll(() => gw?.close());
// Whatever a test did (deletes, restores, removals), the invariants hold afterwards.
afterEach(() => gw.expectIntegrity());

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

// Each of these is refused before its target is judged (203.0.113.0/24 would be refused too: TEST-NET-3).
test.each([
  [{ url: 'not a url', events: ['push'] }, /url/],
  [{ url: 'ftp://203.0.113.10/x', events: ['push'] }, /http/],
  [{ url: 'http://user:pw@203.0.113.10/', events: ['push'] }, /credentials/],
  [{ url: 'http://203.0.113.10/', events: [] }, /events/],
  [{ url: 'http://203.0.113.10/', events: ['issue.exploded'] }, /unknown: issue.exploded/],
  [{ url: 'http://203.0.113.10/', events: ['pushes'] }, /unknown: pushes/],
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
    (
      await gw.request('POST', hooks(), {
        token: writer.token,
        json: { url: 'http://203.0.113.10/', events: ['push'] },
      })
    ).status,
  ).toBe(403);
  const priv = await createRepo(gw, owner.token);
  await expectRepo404(await gw.request('GET', hooks(priv.repoId), { token: writer.token }));
  await expectRepo404(
    await gw.request('POST', hooks(priv.repoId), {
      token: writer.token,
      json: { url: 'http://203.0.113.10/', events: ['push'] },
    }),
  );
  await expectRepo404(
    await gw.request('DELETE', `${hooks(priv.repoId)}/00000000-0000-4000-8000-000000000000`, { token: writer.token }),
  );
});

test('subscriptions by the names MuseHub and GitHub users write deliver the matching events', async () => {
  const names = ['issue', 'issues', 'pull_request', 'issue_comment', 'push'] as const;
  const expected: Record<(typeof names)[number], string[]> = {
    issue: ['issue.opened'],
    issues: ['issue.opened'],
    pull_request: ['proposal.opened'],
    // As on GitHub, issue_comment covers comments on pull requests (proposals) too.
    issue_comment: ['issue_comment.created', 'proposal_comment.created'],
    push: ['push'],
  };
  const target = await createRepo(gw, owner.token, { visibility: 'public' });
  const receivers = await Promise.all(names.map(() => startReceiver()));
  try {
    for (const [i, name] of names.entries()) {
      const res = await gw.request('POST', hooks(target.repoId), {
        token: owner.token,
        json: { url: receivers[i]!.url, events: [name] },
      });
      expect(res.status, name).toBe(201);
      expect((await res.json()).events).toEqual([name]);
    }
    const api = `/api/v1/repos/${target.repoId}`;
    expect((await gw.request('POST', `${api}/issues`, { token: owner.token, json: { title: 'i' } })).status).toBe(201);
    expect(
      (await gw.request('POST', `${api}/issues/1/comments`, { token: owner.token, json: { body: 'c' } })).status,
    ).toBe(201);
    const proposal = await gw.request('POST', `${api}/proposals`, {
      token: owner.token,
      json: { title: 'p', fromBranch: 'dev' },
    });
    expect(proposal.status).toBe(201);
    expect(
      (await gw.request('POST', `${api}/proposals/1/comments`, { token: owner.token, json: { body: 'c' } })).status,
    ).toBe(201);
    const { snapshot, objects } = makeSnapshot({ 'a.txt': 'hooked' });
    const commit = makeCommit({ snapshotId: snapshot.snapshot_id });
    const pushed = await pushAll(gw, `/olive/${target.slug}`, owner.token, {
      commits: [commit],
      snapshots: [snapshot],
      objects,
    });
    expect(pushed.status).toBe(200);
    // Every delivery of this repo settled, then each receiver got exactly its events.
    await eventually(async () => {
      const [row] = await sql<{ n: number }>(
        gw.databaseUrl,
        `SELECT count(*)::int AS n FROM musehub_webhook_deliveries WHERE repo_id = $1 AND status = 'pending'`,
        [target.repoId],
      );
      return row!.n === 0 && receivers.every((r, i) => r.received.length >= expected[names[i]!].length);
    });
    for (const [i, name] of names.entries()) expect(receivers[i]!.events(), name).toEqual(expected[name]);
  } finally {
    await Promise.all(receivers.map((r) => r.close()));
  }
});

test('a secret of any length is accepted; an empty one means deliveries carry no signature', async () => {
  const target = await createRepo(gw, owner.token, { visibility: 'public' });
  const [short, none] = [await startReceiver(), await startReceiver()];
  try {
    for (const [receiver, secret] of [
      [short, 'abc'],
      [none, ''],
    ] as const) {
      const res = await gw.request('POST', hooks(target.repoId), {
        token: owner.token,
        json: { url: receiver.url, events: ['issues'], secret },
      });
      expect(res.status).toBe(201);
      expect((await res.json()).secret).toBe(secret);
    }
    await gw.request('POST', `/api/v1/repos/${target.repoId}/issues`, { token: owner.token, json: { title: 's' } });
    await eventually(() => short.received.length === 1 && none.received.length === 1);
    expect(short.received[0]!.headers['x-musehub-signature-256']).toBe(sign('abc', short.received[0]!.body));
    expect(none.received[0]!.headers['x-musehub-signature-256']).toBeUndefined();
    expect(none.received[0]!.headers['x-musehub-event']).toBe('issue.opened');
  } finally {
    await Promise.all([short.close(), none.close()]);
  }
});
