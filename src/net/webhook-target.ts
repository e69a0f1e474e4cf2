import dns from 'node:dns';
import net from 'node:net';
import { ADDRESS_CLASSES, type AddressClass, addCidr, blockListOf } from './address-ranges.ts';

/**
 * Which addresses a webhook may reach. By default only public ones: a repo admin chooses the
 * URL, so without this any admin could make the gateway POST to its database, a cloud metadata
 * service or anything else inside the network (server-side request forgery). Operators open
 * what they need with MUSEHUB_WEBHOOK_ALLOWED_HOSTS, as Gitea's webhook.ALLOWED_HOST_LIST and
 * GitLab's "allow requests to the local network" do.
 */

/** Keywords an operator may list; `unspecified`, `multicast` and `reserved` are never reachable. */
const KEYWORDS = ['loopback', 'private', 'link-local'] as const;

const classLists = Object.entries(ADDRESS_CLASSES).map(
  ([name, cidrs]) => [name as AddressClass, blockListOf(cidrs)] as const,
);

/**
 * An IPv6 address that carries an IPv4 one is judged by the IPv4 address it reaches:
 * IPv4-mapped ::ffff:a.b.c.d, IPv4-translated ::ffff:0:a.b.c.d, NAT64 64:ff9b::a.b.c.d and its
 * local-use /48 64:ff9b:1::, 6to4 2002:AABB:CCDD::, and the deprecated IPv4-compatible ::a.b.c.d.
 */
export function embeddedIpv4(address: string): string | null {
  if (net.isIP(address) !== 6) return null;
  const w = expandIpv6(address);
  const v4 = (hi: number, lo: number) => `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
  const zero = (from: number, to: number) => w.slice(from, to).every((x) => x === 0);
  if (zero(0, 5) && w[5] === 0xffff) return v4(w[6]!, w[7]!);
  if (zero(0, 4) && w[4] === 0xffff && w[5] === 0) return v4(w[6]!, w[7]!);
  if (w[0] === 0x64 && w[1] === 0xff9b && zero(2, 6)) return v4(w[6]!, w[7]!);
  // RFC 6052 /48: the IPv4 address in bits 48–63 and 72–87 (bits 64–71 are the zero "u" octet).
  if (w[0] === 0x64 && w[1] === 0xff9b && w[2] === 1) return v4(w[3]!, ((w[4]! & 255) << 8) | (w[5]! >> 8));
  if (w[0] === 0x2002) return v4(w[1]!, w[2]!);
  if (zero(0, 5) && w[5] === 0 && (w[6] !== 0 || w[7]! > 1)) return v4(w[6]!, w[7]!);
  return null;
}

function expandIpv6(address: string): number[] {
  let text = address.toLowerCase().replace(/%.*$/, '');
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4) {
    const [a, b, c, d] = v4[1]!.split('.').map(Number) as [number, number, number, number];
    text = text.replace(v4[1]!, `${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`);
  }
  const [left = '', right] = text.split('::');
  const l = left ? left.split(':') : [];
  const r = right ? right.split(':') : [];
  const fill = right === undefined ? [] : new Array(8 - l.length - r.length).fill('0');
  return [...l, ...fill, ...r].map((w) => Number.parseInt(w, 16));
}

/**
 * The class a refused address belongs to, or null for a public address. An IPv6 address that
 * carries an IPv4 one is refused for what it reaches, or for its own prefix (local-use NAT64).
 */
export function classifyAddress(address: string): AddressClass | null {
  const v4 = embeddedIpv4(address);
  const classOf = (target: string) => {
    const type = net.isIP(target) === 6 ? 'ipv6' : 'ipv4';
    for (const [name, list] of classLists) if (list.check(target, type)) return name;
    return null;
  };
  return (v4 && classOf(v4)) || classOf(address);
}

export class WebhookTargetPolicy {
  private readonly keywords = new Set<string>();
  private readonly ranges = new net.BlockList();
  private readonly hosts: string[] = [];
  private allowAll = false;

  /**
   * `entries`: `loopback`, `private`, `link-local`, `*` (everything), an IP or CIDR range
   * (`10.0.0.0/8`, `fd00::/8`), or a host name (`hooks.internal`, `*.internal`) whose
   * addresses are then not checked. Throws on an entry that is none of these.
   */
  constructor(entries: readonly string[] = []) {
    for (const raw of entries) {
      const entry = raw.trim().toLowerCase();
      if (!entry) continue;
      if (entry === '*') this.allowAll = true;
      else if ((KEYWORDS as readonly string[]).includes(entry)) this.keywords.add(entry);
      else if (net.isIP(entry.split('/')[0]!)) addCidr(this.ranges, entry);
      else if (/^(\*\.)?[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/.test(entry)) {
        this.hosts.push(entry);
      } else {
        throw new Error(`"${raw}" is not loopback, private, link-local, *, an IP address, a CIDR range or a host name`);
      }
    }
  }

  /** True when the host name itself is on the allowlist (its addresses are then trusted). */
  allowsHostName(hostname: string): boolean {
    const host = hostname.toLowerCase().replace(/\.$/, '');
    return this.hosts.some((h) => (h.startsWith('*.') ? host.endsWith(h.slice(1)) : host === h));
  }

  /** Why the gateway may not connect to `address`, or null when it may. */
  refusal(address: string): string | null {
    if (this.allowAll) return null;
    const cls = classifyAddress(address);
    if (!cls) return null;
    const v4 = embeddedIpv4(address);
    if (this.ranges.check(address, net.isIP(address) === 6 ? 'ipv6' : 'ipv4')) return null;
    if (v4 && this.ranges.check(v4, 'ipv4')) return null;
    if (this.keywords.has(cls)) return null;
    return `${address} is a ${cls} address; webhooks may only reach public addresses unless MUSEHUB_WEBHOOK_ALLOWED_HOSTS allows it`;
  }

  /**
   * Resolves a URL's host and checks every address it resolves to. Returns the addresses to
   * connect to (the caller connects to exactly these, so a DNS answer that changes between this
   * check and the connection cannot switch it to another address), or throws a refusal.
   */
  async resolve(hostname: string): Promise<dns.LookupAddress[]> {
    const host = hostname.replace(/^\[|\]$/g, '');
    const family = net.isIP(host);
    if (family) {
      const why = this.refusal(host);
      if (why) throw new TargetRefusedError(why);
      return [{ address: host, family }];
    }
    const addresses = await dns.promises.lookup(host, { all: true, verbatim: true });
    if (this.allowsHostName(host)) return addresses;
    for (const a of addresses) {
      const why = this.refusal(a.address);
      if (why) throw new TargetRefusedError(`${host} resolves to ${why}`);
    }
    return addresses;
  }
}

/** A webhook target the policy refuses: final, never worth retrying. */
export class TargetRefusedError extends Error {
  override name = 'TargetRefusedError';
}
