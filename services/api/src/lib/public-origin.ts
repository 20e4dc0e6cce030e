import type { Config } from '@tryon/config';
import type { FastifyRequest } from 'fastify';

/** A Host header as a browser or HTTP client sends it: a name or address, an optional port. */
const HOST = /^(?:[a-z0-9](?:[a-z0-9-]{0,62}\.?)*|\[[0-9a-f:.]+\])(?::\d{1,5})?$/i;

/**
 * The origin the links of an answer are built on: PUBLIC_URL when it is set; else the origin
 * the client used for this request (scheme and Host, or X-Forwarded-Proto/Host when TRUST_PROXY
 * is on, which Fastify's `request.protocol` and `request.host` already honour), so a client on
 * another machine gets a link it can reach. A Host that is not a plain host[:port] falls back
 * to the configured default rather than being echoed into a URL.
 */
export function publicOrigin(
  config: Pick<Config, 'publicUrl' | 'publicUrlIsSet'>,
  request: FastifyRequest,
): string {
  if (config.publicUrlIsSet) return config.publicUrl;
  // X-Forwarded-Host may list every proxy on the way: the first is what the client asked for.
  const host = request.host.split(',')[0]!.trim();
  if (host === '' || !HOST.test(host) || host.length > 300) return config.publicUrl;
  const protocol = request.protocol === 'https' ? 'https' : 'http';
  return `${protocol}://${host}`;
}
