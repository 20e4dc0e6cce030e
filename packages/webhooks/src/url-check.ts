import { promises as dns } from 'node:dns';
import { isIP } from 'node:net';
import { classifyAddress, describeRange, type AddressClassification } from './address.js';

/** One answer of a name lookup. */
export interface ResolvedAddress {
  address: string;
  family: 4 | 6;
}

/**
 * Resolves a host name to all of its addresses. The default uses the system resolver
 * (`dns.lookup` with `all: true`), the same one a plain socket would use; tests inject their own.
 */
export type LookupFn = (hostname: string) => Promise<ResolvedAddress[]>;

export const defaultLookup: LookupFn = async (hostname) => {
  const answers = await dns.lookup(hostname, { all: true, verbatim: true });
  return answers.map((a) => ({ address: a.address, family: a.family === 6 ? 6 : 4 }));
};

export type AllowedProtocol = 'https:' | 'http:';

export interface CheckUrlOptions {
  /** WEBHOOK_ALLOW_PRIVATE_NETWORKS: when true only protocol and credentials are checked. */
  allowPrivateNetworks: boolean;
  /** Default `['https:', 'http:']`. */
  allowedProtocols?: AllowedProtocol[];
  lookup?: LookupFn;
}

export type UrlCheckCode =
  | 'invalid_url'
  | 'unsupported_protocol'
  | 'credentials_in_url'
  | 'forbidden_address'
  | 'dns_lookup_failed';

export type UrlCheckResult =
  { ok: true; url: URL } | { ok: false; code: UrlCheckCode; message: string };

export const DEFAULT_PROTOCOLS: readonly AllowedProtocol[] = ['https:', 'http:'];

/** An error raised when a destination is refused; `code` is one of {@link UrlCheckCode}. */
export class UnsafeDestinationError extends Error {
  override readonly name = 'UnsafeDestinationError';
  constructor(
    readonly code: UrlCheckCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** The host of a URL or an undici origin without IPv6 brackets. */
export function bareHost(hostname: string): string {
  return hostname.startsWith('[') && hostname.endsWith(']') ? hostname.slice(1, -1) : hostname;
}

/** RFC 6761: `localhost` and everything under it is loopback, whatever a resolver says. */
function isLocalhostName(host: string): boolean {
  const h = host.toLowerCase().replace(/\.$/, '');
  return h === 'localhost' || h.endsWith('.localhost');
}

/**
 * Resolves `host` (a bare IP literal or a name) and returns every address with its class.
 * Throws {@link UnsafeDestinationError} `dns_lookup_failed` when the name does not resolve.
 */
export async function resolveHost(
  host: string,
  lookup: LookupFn = defaultLookup,
): Promise<AddressClassification[]> {
  if (isIP(host) !== 0) return [classifyAddress(host)];
  let answers: ResolvedAddress[];
  try {
    answers = await lookup(host);
  } catch (err) {
    const code = (err as { code?: unknown } | null)?.code;
    throw new UnsafeDestinationError(
      'dns_lookup_failed',
      `host ${host} could not be resolved${typeof code === 'string' ? ` (${code})` : ''}`,
      { cause: err },
    );
  }
  if (answers.length === 0) {
    throw new UnsafeDestinationError('dns_lookup_failed', `host ${host} has no addresses`);
  }
  return answers.map((a) => classifyAddress(a.address));
}

/**
 * Returns the addresses of `host` if all of them are public (or private ones are allowed);
 * throws {@link UnsafeDestinationError} otherwise. A name with several addresses is refused
 * if any one of them is not public, since the connection could go to any of them.
 */
export async function resolvePublicAddresses(
  host: string,
  opts: { allowPrivateNetworks: boolean; lookup?: LookupFn | undefined },
): Promise<AddressClassification[]> {
  const isLiteral = isIP(host) !== 0;
  if (!opts.allowPrivateNetworks && !isLiteral && isLocalhostName(host)) {
    throw new UnsafeDestinationError(
      'forbidden_address',
      `host ${host} is a loopback name; private and loopback destinations are not allowed`,
    );
  }
  const addresses = await resolveHost(host, opts.lookup);
  if (opts.allowPrivateNetworks) {
    const usable = addresses.filter((a) => a.range !== 'invalid');
    if (usable.length === 0) {
      throw new UnsafeDestinationError('dns_lookup_failed', `host ${host} has no usable address`);
    }
    return usable;
  }
  const bad = addresses.find((a) => !a.public);
  if (bad) {
    const what = isLiteral
      ? `address ${host} is ${describeRange(bad.range)}`
      : `host ${host} resolves to ${describeRange(bad.range)}`;
    throw new UnsafeDestinationError(
      'forbidden_address',
      `${what}; private and loopback destinations are not allowed`,
    );
  }
  return addresses;
}

/**
 * Checks only what needs no network: the URL parses, its protocol is allowed and it carries no
 * credentials.
 */
export function checkUrlSyntax(
  url: string | URL,
  allowedProtocols: readonly AllowedProtocol[] = DEFAULT_PROTOCOLS,
): UrlCheckResult {
  let parsed: URL;
  try {
    parsed = typeof url === 'string' ? new URL(url) : new URL(url.href);
  } catch {
    return { ok: false, code: 'invalid_url', message: 'not a valid absolute URL' };
  }
  if (!(allowedProtocols as readonly string[]).includes(parsed.protocol)) {
    return {
      ok: false,
      code: 'unsupported_protocol',
      message: `protocol ${parsed.protocol} is not allowed (allowed: ${allowedProtocols.join(', ')})`,
    };
  }
  if (parsed.username !== '' || parsed.password !== '') {
    return {
      ok: false,
      code: 'credentials_in_url',
      message: 'URLs with a user name or password are not allowed',
    };
  }
  if (parsed.hostname === '') {
    return { ok: false, code: 'invalid_url', message: 'URL has no host' };
  }
  return { ok: true, url: parsed };
}

/**
 * The SSRF guard for tenant-supplied URLs (webhook targets, image URLs). The WHATWG URL parser
 * first normalises odd IPv4 spellings (2130706433, 0177.0.0.1, 0x7f.1, 127.1 all become
 * 127.0.0.1); the host, or every address it resolves to, is then classified with ipaddr.js and
 * must be global unicast. This is a check at submit time only: connect through
 * {@link createSafeDispatcher} so the address actually used is checked again.
 */
export async function checkPublicUrl(url: string, opts: CheckUrlOptions): Promise<UrlCheckResult> {
  const syntax = checkUrlSyntax(url, opts.allowedProtocols ?? DEFAULT_PROTOCOLS);
  if (!syntax.ok || opts.allowPrivateNetworks) return syntax;
  try {
    await resolvePublicAddresses(bareHost(syntax.url.hostname), {
      allowPrivateNetworks: false,
      lookup: opts.lookup,
    });
  } catch (err) {
    if (err instanceof UnsafeDestinationError) {
      return { ok: false, code: err.code, message: err.message };
    }
    throw err;
  }
  return syntax;
}
