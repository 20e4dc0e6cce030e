import { describe, expect, it } from 'vitest';
import { checkPublicUrl, classifyAddress, type UrlCheckCode } from '../src/index.js';
import { tableLookup } from './helpers.js';

/** DNS answers for the test; nothing here reaches a real resolver except `localhost`. */
const lookup = tableLookup({
  'example.com': '93.184.215.14',
  'v6.example.com': '2606:2800:21f:cb07:6820:80da:af6b:8b2c',
  'dual.example.com': ['93.184.215.14', '2606:2800:21f:cb07:6820:80da:af6b:8b2c'],
  'internal.example.com': '10.1.2.3',
  'metadata.example.com': '169.254.169.254',
  'loop.example.com': '127.0.0.1',
  'loop6.example.com': '::1',
  'ula.example.com': 'fd12:3456:789a::1',
  'mapped.example.com': '::ffff:192.168.1.1',
  'mixed.example.com': ['93.184.215.14', '192.168.0.10'],
  'mixed6.example.com': ['2606:2800:21f:cb07:6820:80da:af6b:8b2c', 'fe80::1'],
  'cgnat.example.com': '100.64.0.1',
});

const refused: [string, string, UrlCheckCode][] = [
  // loopback, in every spelling the URL parser normalises
  ['loopback', 'http://127.0.0.1/', 'forbidden_address'],
  ['loopback /8', 'https://127.255.255.254/', 'forbidden_address'],
  ['decimal', 'http://2130706433/', 'forbidden_address'],
  ['octal', 'http://0177.0.0.1/', 'forbidden_address'],
  ['hex short', 'http://0x7f.1/', 'forbidden_address'],
  ['hex whole', 'http://0x7f000001/', 'forbidden_address'],
  ['short form', 'http://127.1/', 'forbidden_address'],
  ['octal whole', 'http://017700000001/', 'forbidden_address'],
  ['trailing dot', 'http://127.0.0.1./', 'forbidden_address'],
  ['IPv6 loopback', 'http://[::1]/', 'forbidden_address'],
  ['IPv6 loopback long', 'http://[0:0:0:0:0:0:0:1]:8080/', 'forbidden_address'],
  ['localhost', 'http://localhost/', 'forbidden_address'],
  ['LOCALHOST with port', 'http://LOCALHOST:3000/hook', 'forbidden_address'],
  ['sub.localhost', 'http://api.localhost/', 'forbidden_address'],
  // this network, unspecified
  ['0.0.0.0', 'http://0.0.0.0/', 'forbidden_address'],
  ['0 (short for 0.0.0.0)', 'http://0/', 'forbidden_address'],
  ['0.1.2.3', 'http://0.1.2.3/', 'forbidden_address'],
  ['IPv6 unspecified', 'http://[::]/', 'forbidden_address'],
  // private
  ['10/8', 'http://10.0.0.1/', 'forbidden_address'],
  ['172.16/12 low', 'http://172.16.0.1/', 'forbidden_address'],
  ['172.16/12 high', 'http://172.31.255.255/', 'forbidden_address'],
  ['192.168/16', 'https://192.168.1.1/x', 'forbidden_address'],
  ['private in hex', 'http://0xc0.0xa8.1.1/', 'forbidden_address'],
  // link-local and cloud metadata
  ['metadata', 'http://169.254.169.254/latest/meta-data/', 'forbidden_address'],
  ['metadata decimal', 'http://2852039166/', 'forbidden_address'],
  ['link-local v4', 'http://169.254.1.1/', 'forbidden_address'],
  ['link-local v6', 'http://[fe80::1]/', 'forbidden_address'],
  ['link-local v6 upper', 'http://[febf::1]/', 'forbidden_address'],
  // CGNAT, ULA, multicast, broadcast, reserved
  ['CGNAT', 'http://100.64.0.1/', 'forbidden_address'],
  ['CGNAT high', 'http://100.127.255.254/', 'forbidden_address'],
  ['ULA fc', 'http://[fc00::1]/', 'forbidden_address'],
  ['ULA fd', 'http://[fd00:ec2::254]/', 'forbidden_address'],
  ['multicast v4', 'http://224.0.0.1/', 'forbidden_address'],
  ['multicast v6', 'http://[ff02::1]/', 'forbidden_address'],
  ['broadcast', 'http://255.255.255.255/', 'forbidden_address'],
  ['reserved 240/4', 'http://240.0.0.1/', 'forbidden_address'],
  ['TEST-NET-1', 'http://192.0.2.1/', 'forbidden_address'],
  ['benchmarking 198.18/15', 'http://198.18.0.1/', 'forbidden_address'],
  ['IPv6 documentation', 'http://[2001:db8::1]/', 'forbidden_address'],
  ['IPv6 site-local (deprecated)', 'http://[fec0::1]/', 'forbidden_address'],
  ['IPv6 discard', 'http://[100::1]/', 'forbidden_address'],
  // IPv6 forms embedding IPv4
  ['IPv4-mapped loopback', 'http://[::ffff:127.0.0.1]/', 'forbidden_address'],
  ['IPv4-mapped metadata', 'http://[::ffff:169.254.169.254]/', 'forbidden_address'],
  ['IPv4-mapped private hex', 'http://[::ffff:a00:1]/', 'forbidden_address'],
  ['IPv4-mapped loopback /8', 'http://[::ffff:127.0.0.2]/', 'forbidden_address'],
  ['IPv4-compatible loopback', 'http://[::127.0.0.1]/', 'forbidden_address'],
  ['IPv4-compatible public', 'http://[::8.8.8.8]/', 'forbidden_address'],
  ['IPv4-translated (rfc6145)', 'http://[::ffff:0:10.0.0.1]/', 'forbidden_address'],
  ['NAT64 private', 'http://[64:ff9b::10.0.0.1]/', 'forbidden_address'],
  ['NAT64 loopback', 'http://[64:ff9b::7f00:1]/', 'forbidden_address'],
  ['NAT64 local-use prefix', 'http://[64:ff9b:1::808:808]/', 'forbidden_address'],
  ['6to4 private', 'http://[2002:c0a8:101::1]/', 'forbidden_address'],
  ['6to4 loopback', 'http://[2002:7f00:1::]/', 'forbidden_address'],
  // Teredo: server 65.54.227.120, client 10.0.0.1 (inverted: f5ff:fffe)
  ['Teredo private client', 'http://[2001:0:4136:e378:8000:63bf:f5ff:fffe]/', 'forbidden_address'],
  // names that resolve to non-public addresses
  ['name -> 10/8', 'https://internal.example.com/', 'forbidden_address'],
  ['name -> metadata', 'https://metadata.example.com/', 'forbidden_address'],
  ['name -> 127.0.0.1', 'https://loop.example.com/', 'forbidden_address'],
  ['name -> ::1', 'https://loop6.example.com/', 'forbidden_address'],
  ['name -> ULA', 'https://ula.example.com/', 'forbidden_address'],
  ['name -> mapped private', 'https://mapped.example.com/', 'forbidden_address'],
  ['name -> CGNAT', 'https://cgnat.example.com/', 'forbidden_address'],
  ['name -> public and private', 'https://mixed.example.com/', 'forbidden_address'],
  ['name -> public and link-local v6', 'https://mixed6.example.com/', 'forbidden_address'],
  ['name case-insensitive', 'https://INTERNAL.Example.COM/', 'forbidden_address'],
  // names that do not resolve
  ['unknown name', 'https://nowhere.example.com/', 'dns_lookup_failed'],
  // not URLs, bad protocols, credentials
  ['garbage', 'not a url', 'invalid_url'],
  ['relative', '/v1/hook', 'invalid_url'],
  ['bad IPv4', 'http://1.2.3.4.5/', 'invalid_url'],
  ['IPv6 with zone', 'http://[fe80::1%25eth0]/', 'invalid_url'],
  ['file', 'file:///etc/passwd', 'unsupported_protocol'],
  ['ftp', 'ftp://example.com/', 'unsupported_protocol'],
  ['gopher', 'gopher://example.com:70/', 'unsupported_protocol'],
  ['javascript', 'javascript:alert(1)', 'unsupported_protocol'],
  ['data', 'data:text/plain,hi', 'unsupported_protocol'],
  ['user and password', 'https://user:pass@example.com/', 'credentials_in_url'],
  ['user only', 'https://user@example.com/', 'credentials_in_url'],
  ['credentials hiding a host', 'https://example.com:443@127.0.0.1/', 'credentials_in_url'],
];

describe('checkPublicUrl refuses', () => {
  it.each(refused)('%s: %s -> %s', async (_label, url, code) => {
    const result = await checkPublicUrl(url, { allowPrivateNetworks: false, lookup });
    expect(result.ok).toBe(false);
    if (!result.ok) {
      expect(result.code).toBe(code);
      expect(result.message.length).toBeGreaterThan(0);
    }
  });

  it('refuses `localhost` without an injected lookup', async () => {
    // No injected lookup: localhost is refused by name before any resolution.
    const result = await checkPublicUrl('http://localhost:8080/hook', {
      allowPrivateNetworks: false,
    });
    expect(result).toMatchObject({ ok: false, code: 'forbidden_address' });
  });

  it('refuses http when only https is allowed', async () => {
    const result = await checkPublicUrl('http://example.com/', {
      allowPrivateNetworks: false,
      allowedProtocols: ['https:'],
      lookup,
    });
    expect(result).toMatchObject({ ok: false, code: 'unsupported_protocol' });
  });

  it('says what kind of address was refused without echoing resolved addresses', async () => {
    const a = await checkPublicUrl('http://[::ffff:127.0.0.1]/', { allowPrivateNetworks: false });
    expect(a.ok || a.message).toMatch(/ipv4Mapped form of a loopback address/);
    const b = await checkPublicUrl('https://metadata.example.com/', {
      allowPrivateNetworks: false,
      lookup,
    });
    expect(b.ok || b.message).toMatch(/resolves to a link-local address/);
    expect(b.ok || b.message).not.toMatch(/169\.254/);
  });
});

const accepted: [string, string][] = [
  ['example.com', 'https://example.com/hooks/tryon?x=1'],
  ['http is allowed by default', 'http://example.com/'],
  ['IPv6-only name', 'https://v6.example.com/'],
  ['dual-stack name', 'https://dual.example.com:8443/'],
  ['public IPv4 literal', 'https://93.184.215.14/'],
  ['public IPv4 in decimal', 'http://1572394766/'],
  ['public IPv6 literal', 'https://[2606:4700:4700::1111]/'],
  ['172.32 is outside 172.16/12', 'https://172.32.0.1/'],
  ['100.128 is outside CGNAT', 'https://100.128.0.1/'],
  ['NAT64 of a public address', 'https://[64:ff9b::808:808]/'],
  ['6to4 of a public address', 'https://[2002:808:808::1]/'],
];

describe('checkPublicUrl accepts', () => {
  it.each(accepted)('%s: %s', async (_label, url) => {
    const result = await checkPublicUrl(url, { allowPrivateNetworks: false, lookup });
    expect(result.ok).toBe(true);
    if (result.ok) expect(result.url.href).toBe(new URL(url).href);
  });

  it('returns the normalised URL', async () => {
    const result = await checkPublicUrl('HTTPS://EXAMPLE.com:443/a/../b', {
      allowPrivateNetworks: false,
      lookup,
    });
    expect(result.ok && result.url.href).toBe('https://example.com/b');
  });
});

describe('checkPublicUrl with allowPrivateNetworks', () => {
  it.each([
    'http://127.0.0.1:3000/',
    'http://localhost/',
    'http://[::1]/',
    'http://10.0.0.1/',
    'https://internal.example.com/',
    'https://nowhere.example.com/',
  ])('allows %s', async (url) => {
    const result = await checkPublicUrl(url, { allowPrivateNetworks: true, lookup });
    expect(result.ok).toBe(true);
  });

  it.each([
    ['ftp://10.0.0.1/', 'unsupported_protocol'],
    ['http://u:p@127.0.0.1/', 'credentials_in_url'],
  ])('still refuses %s', async (url, code) => {
    const result = await checkPublicUrl(url, { allowPrivateNetworks: true, lookup });
    expect(result).toMatchObject({ ok: false, code });
  });
});

describe('classifyAddress', () => {
  it.each([
    ['8.8.8.8', true, 'unicast'],
    ['127.0.0.1', false, 'loopback'],
    ['::ffff:8.8.8.8', true, 'ipv4Mapped/unicast'],
    ['::ffff:10.0.0.1', false, 'ipv4Mapped/private'],
    ['64:ff9b::a9fe:a9fe', false, 'rfc6052/linkLocal'],
    ['2001:0:4136:e378:8000:63bf:f7f7:f7f7', true, 'teredo/unicast'],
    ['fe80::1%eth0', false, 'linkLocal'],
    ['0177.0.0.1', false, 'invalid'],
    ['example.com', false, 'invalid'],
    ['4000::1', false, 'nonGlobalIPv6'],
  ])('%s -> public %s (%s)', (address, isPublic, range) => {
    expect(classifyAddress(address)).toMatchObject({ public: isPublic, range });
  });
});
