import http from 'node:http';
import https from 'node:https';
import type { LookupFunction } from 'node:net';
import { TargetRefusedError, type WebhookTargetPolicy } from '../net/webhook-target.ts';

/**
 * POSTs one delivery and answers the receiver's status. The host is resolved and checked by
 * the policy first, and the connection goes to exactly the address that was checked (a DNS
 * answer that changes in between cannot redirect it). Redirects are never followed: a 3xx is
 * the receiver's answer, recorded like any other non-2xx.
 */
export async function postWebhook(
  policy: WebhookTargetPolicy,
  target: string,
  headers: Record<string, string>,
  body: string,
  timeoutMs: number,
): Promise<number> {
  const url = new URL(target);
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new TargetRefusedError(`${url.protocol} URLs are not delivered; use http:// or https://`);
  }
  const [pinned] = await policy.resolve(url.hostname);
  if (!pinned) throw new TargetRefusedError(`${url.hostname} has no address`);
  const lookup: LookupFunction = (_host, options, callback) => {
    if (options.all) callback(null, [pinned]);
    else callback(null, pinned.address, pinned.family);
  };
  const client = url.protocol === 'https:' ? https : http;
  return new Promise<number>((resolve, reject) => {
    const req = client.request(
      url,
      {
        method: 'POST',
        headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) },
        lookup,
        signal: AbortSignal.timeout(timeoutMs),
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}
