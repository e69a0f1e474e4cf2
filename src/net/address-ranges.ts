import net from 'node:net';

/**
 * Named address ranges and CIDR parsing, shared by what decides whom to believe (trusted
 * proxies) and where the gateway may connect (webhook targets).
 */
export const ADDRESS_CLASSES = {
  loopback: ['127.0.0.0/8', '::1/128'],
  private: ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '100.64.0.0/10', 'fc00::/7'],
  'link-local': ['169.254.0.0/16', 'fe80::/10'],
  unspecified: ['0.0.0.0/8', '::/128'],
  multicast: ['224.0.0.0/4', 'ff00::/8'],
  reserved: ['240.0.0.0/4'],
  // The rest of IANA's special-purpose registries whose "Globally Reachable" is False
  // (iana-ipv4-special-registry, iana-ipv6-special-registry): nothing a webhook may reach.
  'special-use': [
    '192.0.0.0/24', // IETF protocol assignments
    '192.0.2.0/24', // TEST-NET-1
    '198.18.0.0/15', // benchmarking
    '198.51.100.0/24', // TEST-NET-2
    '203.0.113.0/24', // TEST-NET-3
    '64:ff9b:1::/48', // local-use IPv4/IPv6 translation
    '100::/64', // discard-only
    '2001:2::/48', // benchmarking
    '2001:10::/28', // ORCHID (deprecated)
    '2001:db8::/32', // documentation
    '3fff::/20', // documentation
    '5f00::/16', // segment routing SIDs
    'fec0::/10', // site-local (deprecated, still routed inside some networks)
  ],
} as const;
export type AddressClass = keyof typeof ADDRESS_CLASSES;

/** Adds an IP (`10.0.0.1`) or CIDR range (`10.0.0.0/8`, `fd00::/8`) to `list`; throws on anything else. */
export function addCidr(list: net.BlockList, cidr: string): void {
  const [address = '', bits] = cidr.split('/');
  const family = net.isIP(address);
  const prefix = bits === undefined ? (family === 6 ? 128 : 32) : /^\d+$/.test(bits) ? Number(bits) : Number.NaN;
  if (!family || !Number.isInteger(prefix) || prefix < 0 || prefix > (family === 6 ? 128 : 32)) {
    throw new Error(`not an IP address or CIDR range: ${cidr}`);
  }
  list.addSubnet(address, prefix, family === 6 ? 'ipv6' : 'ipv4');
}

/** A BlockList holding every range of the given CIDRs. */
export function blockListOf(cidrs: readonly string[]): net.BlockList {
  const list = new net.BlockList();
  for (const cidr of cidrs) addCidr(list, cidr);
  return list;
}

/** `::ffff:10.1.2.3` (how a dual-stack socket reports an IPv4 peer) → `10.1.2.3`; anything else unchanged. */
export function unmapIpv4(address: string): string {
  const m = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  return m ? m[1]! : address;
}

/** True when `address` is an IP inside `list`. */
export function inList(list: net.BlockList, address: string): boolean {
  const family = net.isIP(address);
  return family !== 0 && list.check(address, family === 6 ? 'ipv6' : 'ipv4');
}
