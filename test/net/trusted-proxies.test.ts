import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { TrustedProxies } from '../../src/net/trusted-proxies.ts';
import { createTestDatabase } from '../helpers/db.ts';
import { request } from '../helpers/https.ts';
import { eventually, exited, startServe } from '../helpers/process.ts';

describe('who the client is', () => {
  const headers =
    (h: Record<string, string>) =>
    (name: string): string | undefined =>
      h[name];
  const proxies = new TrustedProxies(['10.0.0.0/8', '192.0.2.7', 'loopback']);

  test.each([
    // [peer, X-Forwarded-For, expected client]
    ['10.1.1.1', '198.51.100.9', '198.51.100.9'],
    // The client is the rightmost hop that is not a trusted proxy; what it wrote further left is ignored.
    ['10.1.1.1', '203.0.113.66, 198.51.100.9, 10.2.2.2', '198.51.100.9'],
    ['::ffff:10.1.1.1', '198.51.100.9', '198.51.100.9'],
    ['10.1.1.1', '[2001:db8::5]:4711', '2001:db8::5'],
    ['10.1.1.1', '198.51.100.9:5555', '198.51.100.9'],
    // Every hop trusted: the leftmost one is the client (a machine inside the network).
    ['127.0.0.1', '10.3.3.3, 192.0.2.7', '10.3.3.3'],
    // Garbage stops the walk at the last believed hop.
    ['10.1.1.1', 'evil, 10.2.2.2', '10.2.2.2'],
    ['10.1.1.1', 'unknown', '10.1.1.1'],
    ['10.1.1.1', '', '10.1.1.1'],
    // An untrusted peer's headers change nothing.
    ['198.51.100.1', '10.2.2.2', '198.51.100.1'],
    ['192.0.2.8', '203.0.113.1', '192.0.2.8'],
  ])('peer %s, X-Forwarded-For "%s" → %s', (peer, xff, ip) => {
    expect(proxies.clientOf(peer, false, headers({ 'x-forwarded-for': xff })).ip).toBe(ip);
  });

  test('proto and host only from a trusted peer, the nearest proxy’s value, well-formed only', () => {
    const forwarded = { 'x-forwarded-proto': 'https', 'x-forwarded-host': 'hub.example:8443' };
    expect(proxies.clientOf('10.1.1.1', false, headers(forwarded))).toEqual({
      ip: '10.1.1.1',
      proto: 'https',
      forwardedHost: 'hub.example:8443',
    });
    expect(proxies.clientOf('198.51.100.1', false, headers(forwarded))).toEqual({
      ip: '198.51.100.1',
      proto: 'http',
      forwardedHost: undefined,
    });
    expect(proxies.clientOf('10.1.1.1', true, headers({ 'x-forwarded-proto': 'gopher' })).proto).toBe('https');
    expect(proxies.clientOf('10.1.1.1', false, headers({ 'x-forwarded-proto': 'https, http' })).proto).toBe('http');
    expect(
      proxies.clientOf('10.1.1.1', false, headers({ 'x-forwarded-host': 'evil.example/<script>' })).forwardedHost,
    ).toBeUndefined();
    // No proxies configured: nobody is believed, loopback included.
    expect(new TrustedProxies([]).clientOf('127.0.0.1', false, headers({ 'x-forwarded-for': '1.2.3.4' })).ip).toBe(
      '127.0.0.1',
    );
  });
});

/**
 * A real `musehub serve` behind a "proxy" at 127.0.0.3 (the whole 127.0.0.0/8 is this machine,
 * so a request sent from 127.0.0.3 is a connection from that peer). 127.0.0.4 is a client that
 * talks to the gateway directly and forges the headers.
 */
describe('behind a trusted proxy', () => {
  let child: ChildProcess;
  let url: string;
  let dataDir: string;
  const log: Record<string, unknown>[] = [];

  beforeAll(async () => {
    dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'musehub-proxy-'));
    ({ child, url } = await startServe({
      DATABASE_URL: await createTestDatabase(),
      MUSEHUB_DATA_DIR: dataDir,
      MUSEHUB_WORKERS: '1',
      MUSEHUB_TRUSTED_PROXIES: '127.0.0.3',
      MUSEHUB_RATE_LIMIT_PER_MINUTE: '3',
    }));
    let partial = '';
    child.stdout!.on('data', (d: Buffer) => {
      const lines = (partial + d.toString()).split('\n');
      partial = lines.pop()!;
      for (const line of lines) if (line.startsWith('{')) log.push(JSON.parse(line));
    });
  });
  afterAll(async () => {
    child?.kill('SIGTERM');
    if (child) await exited(child);
    await fs.rm(dataDir, { recursive: true, force: true });
  });

  /** Anonymous fetches (rate limited per address) of a repo that does not exist: 404 until the budget is spent. */
  const fetches = async (from: string, forwardedFor: string | undefined, n: number) => {
    const statuses: number[] = [];
    for (let i = 0; i < n; i++) {
      const res = await request(`${url}/nobody/nothing/fetch`, {
        method: 'POST',
        localAddress: from,
        headers: {
          'content-type': 'application/json',
          'x-request-id': `proxy-test-${from}-${forwardedFor}-${i}`,
          ...(forwardedFor ? { 'x-forwarded-for': forwardedFor, 'x-forwarded-proto': 'https' } : {}),
        },
        body: '{"want":[],"have":[]}',
      });
      statuses.push(res.status);
    }
    return statuses;
  };

  test('two clients behind the proxy have a budget each; the proxy itself is not throttled for them', async () => {
    expect(await fetches('127.0.0.3', '198.51.100.1', 4)).toEqual([404, 404, 404, 429]);
    expect(await fetches('127.0.0.3', '198.51.100.2', 4)).toEqual([404, 404, 404, 429]);
    // A hop the client wrote left of its real address changes nothing.
    expect(await fetches('127.0.0.3', '203.0.113.9, 198.51.100.1', 1)).toEqual([429]);
  });

  test('a forged X-Forwarded-For from an untrusted peer is ignored: it is counted, and logged, as itself', async () => {
    expect(await fetches('127.0.0.4', '198.51.100.77', 1)).toEqual([404]);
    expect(await fetches('127.0.0.4', '198.51.100.78', 1)).toEqual([404]);
    expect(await fetches('127.0.0.4', undefined, 2)).toEqual([404, 429]);
    // It cannot use another client's address either: 198.51.100.3 still has its whole budget.
    expect(await fetches('127.0.0.3', '198.51.100.3', 1)).toEqual([404]);
  });

  test('the access log records the believed client address; HSTS only when a trusted proxy says https', async () => {
    const lineFor = (id: string) =>
      eventually(() => log.find((l) => l.msg === 'request' && l.requestId === id) as { clientIp: string } | undefined);
    expect((await lineFor('proxy-test-127.0.0.3-198.51.100.2-0')).clientIp).toBe('198.51.100.2');
    expect((await lineFor('proxy-test-127.0.0.4-198.51.100.77-0')).clientIp).toBe('127.0.0.4');
    expect((await lineFor('proxy-test-127.0.0.4-undefined-0')).clientIp).toBe('127.0.0.4');
    const viaProxy = await request(`${url}/health`, {
      localAddress: '127.0.0.3',
      headers: { 'x-forwarded-proto': 'https' },
    });
    expect(viaProxy.headers['strict-transport-security']).toBe('max-age=15552000');
    const forged = await request(`${url}/health`, {
      localAddress: '127.0.0.4',
      headers: { 'x-forwarded-proto': 'https' },
    });
    expect(forged.headers['strict-transport-security']).toBeUndefined();
  });

  // Regression (issue 23, item 2): /metrics answered anyone. Without MUSEHUB_METRICS_TOKEN it is
  // for clients on this machine — as the trusted proxy reports the client, not the proxy's own address.
  test('/metrics: a client on this machine reads it; an outside client behind the proxy gets a route that does not exist', async () => {
    const direct = await request(`${url}/metrics`, { localAddress: '127.0.0.4' });
    expect(direct.status).toBe(200);
    const outside = await request(`${url}/metrics`, {
      localAddress: '127.0.0.3',
      headers: { 'x-forwarded-for': '198.51.100.9' },
    });
    expect(outside.status).toBe(404);
    expect(JSON.parse(outside.body.toString())).toEqual({ detail: 'no such route', code: 'route_not_found' });
    // A forged header from a peer that is not a proxy changes nothing either way.
    const forged = await request(`${url}/metrics`, {
      localAddress: '127.0.0.4',
      headers: { 'x-forwarded-for': '198.51.100.9' },
    });
    expect(forged.status).toBe(200);
  });
});
