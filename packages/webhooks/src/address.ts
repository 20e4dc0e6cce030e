import { isIP } from 'node:net';
import ipaddr from 'ipaddr.js';

/** Why an address is or is not a public destination. */
export interface AddressClassification {
  /** The address as given (normalised by ipaddr.js). */
  address: string;
  /** True only for globally routable unicast addresses. */
  public: boolean;
  /**
   * ipaddr.js's range name (`unicast`, `loopback`, `private`, `linkLocal`, `uniqueLocal`, ...)
   * or one of ours: `invalid`, `ipv4Compatible`, `nat64LocalUse`, `nonGlobalIPv6`; for an IPv6
   * form that embeds an IPv4 address (mapped, NAT64, 6to4, Teredo) the range is that of the
   * embedded IPv4 address, prefixed by the form, e.g. `ipv4Mapped/loopback`.
   */
  range: string;
}

const PUBLIC = 'unicast';

function classifyV4(ip: ipaddr.IPv4): string {
  return ip.range();
}

function v4FromWords(high: number, low: number): ipaddr.IPv4 {
  return new ipaddr.IPv4([(high >> 8) & 0xff, high & 0xff, (low >> 8) & 0xff, low & 0xff]);
}

/** Returns the range of an IPv6 address, looking inside the forms that embed IPv4. */
function classifyV6(ip: ipaddr.IPv6): string {
  const p = ip.parts;
  const part = (i: number): number => p[i] ?? 0;
  const range = ip.range();
  switch (range) {
    case 'ipv4Mapped': // ::ffff:a.b.c.d
    case 'rfc6145': // ::ffff:0:a.b.c.d
      return `${range}/${classifyV4(ip.toIPv4Address())}`;
    case 'rfc6052': {
      // 64:ff9b::/96 (well-known NAT64 prefix) embeds the IPv4 address in the low 32 bits;
      // 64:ff9b:1::/48 is for local use only and never public.
      if (part(2) !== 0) return 'nat64LocalUse';
      return `rfc6052/${classifyV4(v4FromWords(part(6), part(7)))}`;
    }
    case '6to4': // 2002:AABB:CCDD::/48 embeds AA.BB.CC.DD
      return `6to4/${classifyV4(v4FromWords(part(1), part(2)))}`;
    case 'teredo': {
      // 2001:0:SSSS:SSSS:flags:port:CCCC:CCCC, server in clear, client inverted.
      const server = classifyV4(v4FromWords(part(2), part(3)));
      const client = classifyV4(v4FromWords(part(6) ^ 0xffff, part(7) ^ 0xffff));
      return `teredo/${server === PUBLIC ? client : server}`;
    }
    case 'unicast': {
      // ::a.b.c.d (deprecated IPv4-compatible form); :: and ::1 are classified by ipaddr.js.
      if (p.slice(0, 6).every((x) => x === 0)) {
        return `ipv4Compatible/${classifyV4(v4FromWords(part(6), part(7)))}`;
      }
      // Only 2000::/3 is global unicast; ipaddr.js calls everything unlisted "unicast".
      if ((part(0) & 0xe000) !== 0x2000) return 'nonGlobalIPv6';
      return PUBLIC;
    }
    default:
      return range;
  }
}

function isPublicRange(range: string): boolean {
  if (range === PUBLIC) return true;
  // Embedded IPv4 forms that carry a public IPv4 address are routable; the deprecated
  // IPv4-compatible form is not, whatever it embeds.
  const [form, inner] = range.split('/');
  if (inner === undefined || form === 'ipv4Compatible') return false;
  return inner === PUBLIC;
}

/**
 * Classifies an IP address string (IPv4 dotted quad or IPv6, as from a resolver or a URL's
 * hostname without brackets). Anything that is not a strict IP literal is `invalid` and not
 * public: lenient forms (octal, hex, short) are for the WHATWG URL parser to normalise first.
 */
export function classifyAddress(address: string): AddressClassification {
  let text = address;
  if (text.startsWith('[') && text.endsWith(']')) text = text.slice(1, -1);
  const zone = text.indexOf('%');
  // Zone ids are only meaningful for link-local addresses; judge the address without it.
  const bare = zone === -1 ? text : text.slice(0, zone);
  const family = isIP(bare);
  if (family === 0) return { address, public: false, range: 'invalid' };
  try {
    if (family === 4) {
      const ip = ipaddr.IPv4.parse(bare);
      const range = classifyV4(ip);
      return { address: ip.toString(), public: range === PUBLIC, range };
    }
    const ip = ipaddr.IPv6.parse(bare);
    const range = classifyV6(ip);
    return { address: ip.toString(), public: isPublicRange(range), range };
  } catch {
    return { address, public: false, range: 'invalid' };
  }
}

/** A human-readable name for a range, for error messages. */
export function describeRange(range: string): string {
  const names: Record<string, string> = {
    unspecified: 'an unspecified address',
    broadcast: 'a broadcast address',
    multicast: 'a multicast address',
    linkLocal: 'a link-local address',
    loopback: 'a loopback address',
    carrierGradeNat: 'a carrier-grade NAT address',
    private: 'a private network address',
    reserved: 'a reserved address',
    uniqueLocal: 'an IPv6 unique local address',
    invalid: 'an invalid address',
    nonGlobalIPv6: 'a non-global IPv6 address',
    nat64LocalUse: 'a local-use NAT64 address',
  };
  const [form, inner] = range.split('/');
  if (inner !== undefined) {
    const innerName = inner === PUBLIC ? 'an IPv4 address' : (names[inner] ?? `a ${inner} address`);
    return `an IPv6 ${form} form of ${innerName}`;
  }
  return names[range] ?? `a ${range} address`;
}
