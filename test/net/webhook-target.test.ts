import { describe, expect, test } from 'vitest';
import { classifyAddress, embeddedIpv4, WebhookTargetPolicy } from '../../src/net/webhook-target.ts';

describe('address classes', () => {
  test.each([
    ['127.0.0.1', 'loopback'],
    ['127.255.255.254', 'loopback'],
    ['::1', 'loopback'],
    ['::ffff:127.0.0.1', 'loopback'],
    ['::ffff:7f00:1', 'loopback'],
    ['64:ff9b::7f00:1', 'loopback'],
    ['::127.0.0.1', 'loopback'],
    ['10.1.2.3', 'private'],
    ['172.16.0.1', 'private'],
    ['172.31.255.255', 'private'],
    ['192.168.1.1', 'private'],
    ['100.64.0.1', 'private'],
    ['100.100.100.200', 'private'],
    ['fd00::1', 'private'],
    ['fc00::1', 'private'],
    ['::ffff:10.0.0.1', 'private'],
    ['169.254.169.254', 'link-local'],
    ['fe80::1', 'link-local'],
    ['::ffff:169.254.169.254', 'link-local'],
    ['0.0.0.0', 'unspecified'],
    ['::', 'unspecified'],
    ['224.0.0.1', 'multicast'],
    ['ff02::1', 'multicast'],
    ['255.255.255.255', 'reserved'],
    // Regression (issue 23, item 6): IPv6 transition forms that carry an internal IPv4 address.
    ['2002:7f00:1::', 'loopback'], // 6to4 of 127.0.0.1
    ['2002:a9fe:a9fe::1', 'link-local'], // 6to4 of 169.254.169.254
    ['2002:0a00:0001:1::5', 'private'], // 6to4 of 10.0.0.1
    ['64:ff9b:1:7f00:0:100::', 'loopback'], // local-use NAT64 /48 of 127.0.0.1
    ['64:ff9b:1:a9fe:a9:fe00::', 'link-local'], // … of 169.254.169.254
    ['64:ff9b:1:808:8:800::', 'special-use'], // … of 8.8.8.8: the local-use prefix itself is not global
    ['::ffff:0:127.0.0.1', 'loopback'], // IPv4-translated
    ['::ffff:0:a00:1', 'private'],
    // IANA special-purpose blocks that are not globally reachable.
    ['192.0.0.8', 'special-use'],
    ['192.0.2.1', 'special-use'],
    ['198.18.0.1', 'special-use'],
    ['198.19.255.254', 'special-use'],
    ['198.51.100.7', 'special-use'],
    ['203.0.113.10', 'special-use'],
    ['2001:db8::1', 'special-use'],
    ['2001:2::1', 'special-use'],
    ['3fff::1', 'special-use'],
    ['100::1', 'special-use'],
    ['fec0::1', 'special-use'],
    ['5f00::1', 'special-use'],
  ])('%s is %s', (address, cls) => expect(classifyAddress(address)).toBe(cls));

  test.each([
    '8.8.8.8',
    '1.1.1.1',
    '172.32.0.1',
    '100.128.0.1',
    '2606:4700::1111',
    '::ffff:8.8.8.8',
    '2002:808:808::1',
    '64:ff9b::808:808',
    '198.20.0.1',
    '192.0.3.1',
  ])('%s is public', (address) => expect(classifyAddress(address)).toBeNull());

  test('IPv4 carried in IPv6 is found in every spelling', () => {
    expect(embeddedIpv4('::ffff:127.0.0.1')).toBe('127.0.0.1');
    expect(embeddedIpv4('0:0:0:0:0:ffff:7f00:0001')).toBe('127.0.0.1');
    expect(embeddedIpv4('64:ff9b::a9fe:a9fe')).toBe('169.254.169.254');
    expect(embeddedIpv4('2002:c000:0204::1')).toBe('192.0.2.4');
    expect(embeddedIpv4('64:ff9b:1:c000:2:400::')).toBe('192.0.2.4');
    expect(embeddedIpv4('::ffff:0:c000:204')).toBe('192.0.2.4');
    expect(embeddedIpv4('2606:4700::1111')).toBeNull();
    expect(embeddedIpv4('::1')).toBeNull();
  });
});

describe('policy', () => {
  test('by default only public addresses pass, and the refusal names the rule', () => {
    const policy = new WebhookTargetPolicy();
    expect(policy.refusal('8.8.8.8')).toBeNull();
    expect(policy.refusal('127.0.0.1')).toMatch(/loopback address.*MUSEHUB_WEBHOOK_ALLOWED_HOSTS/);
    expect(policy.refusal('169.254.169.254')).toMatch(/link-local address/);
    expect(policy.refusal('::ffff:10.0.0.1')).toMatch(/private address/);
  });

  test('an operator opens classes, ranges and host names, and nothing else', () => {
    const policy = new WebhookTargetPolicy(['loopback', '10.0.0.0/8', 'fd00::/8', 'hooks.internal', '*.corp.example']);
    expect(policy.refusal('127.0.0.1')).toBeNull();
    expect(policy.refusal('::ffff:127.0.0.1')).toBeNull();
    expect(policy.refusal('10.200.0.1')).toBeNull();
    expect(policy.refusal('fd00::5')).toBeNull();
    expect(policy.refusal('192.168.1.1')).toMatch(/private/);
    expect(policy.refusal('169.254.169.254')).toMatch(/link-local/);
    expect(policy.allowsHostName('hooks.internal')).toBe(true);
    expect(policy.allowsHostName('HOOKS.internal.')).toBe(true);
    expect(policy.allowsHostName('ci.corp.example')).toBe(true);
    expect(policy.allowsHostName('corp.example')).toBe(false);
    expect(policy.allowsHostName('evilhooks.internal')).toBe(false);
    expect(new WebhookTargetPolicy(['*']).refusal('169.254.169.254')).toBeNull();
  });

  test.each(['10.0.0.0/33', 'not a host!', 'http://x', '1.2.3.4/-1'])('refuses the entry %j', (entry) =>
    expect(() => new WebhookTargetPolicy([entry])).toThrow(/is not loopback, private|not an IP address or CIDR/),
  );

  test('resolve checks IP literals without a lookup and names resolving to loopback', async () => {
    const policy = new WebhookTargetPolicy();
    await expect(policy.resolve('[::1]')).rejects.toThrow(/loopback/);
    await expect(policy.resolve('10.1.2.3')).rejects.toThrow(/private/);
    await expect(policy.resolve('localhost')).rejects.toThrow(/localhost resolves to .* loopback/);
    expect(await policy.resolve('8.8.8.8')).toEqual([{ address: '8.8.8.8', family: 4 }]);
    expect((await new WebhookTargetPolicy(['loopback']).resolve('localhost')).length).toBeGreaterThan(0);
  });
});
