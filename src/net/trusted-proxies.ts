import net from 'node:net';
import { ADDRESS_CLASSES, addCidr, inList, unmapIpv4 } from './address-ranges.ts';

/** Who sent a request, as far as the gateway can believe it. */
export interface Client {
  /** The client's address: the peer's, or the forwarded one when the peer is a trusted proxy. */
  ip: string;
  /** How the client reached us: the socket's, or a trusted proxy's X-Forwarded-Proto. */
  proto: 'http' | 'https';
  /** The host the client asked for, from a trusted proxy's X-Forwarded-Host (else undefined). */
  forwardedHost: string | undefined;
}

/** Words an operator may list besides IPs and CIDR ranges. */
const KEYWORDS = { loopback: ADDRESS_CLASSES.loopback, private: ADDRESS_CLASSES.private } as const;

/**
 * MUSEHUB_TRUSTED_PROXIES: the peers whose X-Forwarded-For, -Proto and -Host are believed. From
 * any other peer those headers change nothing, so a client cannot pick its own address for the
 * rate limit or the log (as Gitea's REVERSE_PROXY_TRUSTED_PROXIES and nginx's set_real_ip_from).
 */
export class TrustedProxies {
  private readonly list = new net.BlockList();
  readonly entries: readonly string[];

  /** `entries`: IPs, CIDR ranges, `loopback`, `private`. Throws naming the first entry that is none of these. */
  constructor(entries: readonly string[] = []) {
    this.entries = entries;
    for (const raw of entries) {
      const entry = raw.trim().toLowerCase();
      if (entry in KEYWORDS) for (const cidr of KEYWORDS[entry as keyof typeof KEYWORDS]) addCidr(this.list, cidr);
      else {
        try {
          addCidr(this.list, entry);
        } catch {
          throw new Error(`"${raw}" is not loopback, private, an IP address or a CIDR range`);
        }
      }
    }
  }

  trusts(address: string): boolean {
    return this.entries.length > 0 && inList(this.list, unmapIpv4(address));
  }

  /**
   * The client behind a connection from `peer`. X-Forwarded-For is read right to left: each
   * hop appends the address it saw, so the client is the rightmost address that is not itself
   * a trusted proxy (everything left of it could have been written by the client). A hop that
   * is not an IP stops the walk at the last proxy that was believed.
   */
  clientOf(peer: string | undefined, encrypted: boolean, header: (name: string) => string | undefined): Client {
    const socketIp = peer ? unmapIpv4(peer) : 'unknown';
    const direct: Client = { ip: socketIp, proto: encrypted ? 'https' : 'http', forwardedHost: undefined };
    if (!peer || !this.trusts(socketIp)) return direct;
    let ip = socketIp;
    const hops = (header('x-forwarded-for') ?? '').split(',');
    for (let i = hops.length - 1; i >= 0; i--) {
      const hop = hopAddress(hops[i]!);
      if (!hop) break;
      ip = hop;
      if (!this.trusts(hop)) break;
    }
    const proto = lastValue(header('x-forwarded-proto'))?.toLowerCase();
    const host = lastValue(header('x-forwarded-host'));
    return {
      ip,
      proto: proto === 'https' || proto === 'http' ? proto : direct.proto,
      forwardedHost:
        host && /^[A-Za-z0-9.-]+(:\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](:\d{1,5})?$/.test(host) ? host : undefined,
    };
  }
}

/** One X-Forwarded-For element → an IP: `1.2.3.4`, `1.2.3.4:5678`, `2001:db8::1`, `[2001:db8::1]:80`. */
function hopAddress(raw: string): string | undefined {
  const hop = raw.trim();
  if (net.isIP(hop)) return unmapIpv4(hop);
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(hop);
  if (bracketed && net.isIP(bracketed[1]!) === 6) return unmapIpv4(bracketed[1]!);
  const withPort = /^(\d+\.\d+\.\d+\.\d+):\d+$/.exec(hop);
  if (withPort && net.isIP(withPort[1]!) === 4) return withPort[1];
  return undefined;
}

/** The value the nearest proxy wrote: the last of a comma-joined list. */
function lastValue(header: string | undefined): string | undefined {
  const v = header?.split(',').at(-1)?.trim();
  return v || undefined;
}
