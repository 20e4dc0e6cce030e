import { isIP, type Socket } from 'node:net';
import type { ConnectionOptions } from 'node:tls';
import { Agent, buildConnector, type Dispatcher } from 'undici';
import {
  bareHost,
  resolvePublicAddresses,
  UnsafeDestinationError,
  type LookupFn,
} from './url-check.js';

export interface SafeDispatcherOptions {
  /** WEBHOOK_ALLOW_PRIVATE_NETWORKS. */
  allowPrivateNetworks: boolean;
  /** Time for name resolution and for each TCP/TLS connection attempt. Default 10 000. */
  connectTimeoutMs?: number;
  /** Replaces the system resolver (tests simulate DNS answers with it). */
  lookup?: LookupFn;
  /** How many of the resolved addresses to try in order before giving up. Default 3. */
  maxAddressAttempts?: number;
  /** Extra CAs (or, for tests only, `rejectUnauthorized: false`) for TLS connections. */
  tls?: Pick<ConnectionOptions, 'ca' | 'rejectUnauthorized'>;
  /** Further undici Agent options (keep-alive, connections per origin, ...); not `connect`. */
  agentOptions?: Omit<Agent.Options, 'connect'>;
}

interface SafePolicy {
  allowPrivateNetworks: boolean;
  lookup: LookupFn | undefined;
}

const policies = new WeakMap<Dispatcher, SafePolicy>();

/** The policy a dispatcher made by {@link createSafeDispatcher} enforces, if any. */
export function safeDispatcherPolicy(dispatcher: Dispatcher): SafePolicy | undefined {
  return policies.get(dispatcher);
}

export function isSafeDispatcher(dispatcher: Dispatcher): boolean {
  return policies.has(dispatcher);
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const err = new UnsafeDestinationError(
        'dns_lookup_failed',
        `${what} timed out after ${ms} ms`,
      );
      reject(err);
    }, ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * An undici Agent that resolves each host itself when it opens a connection, refuses the
 * connection unless every address is public (or private networks are allowed), and connects to
 * the address it checked, so a name cannot pass a submit-time check and then rebind to an
 * internal address. TLS still verifies the certificate against the original host name (SNI).
 * Refusals fail the request with an {@link UnsafeDestinationError} (`forbidden_address` or
 * `dns_lookup_failed`). Requests through it never follow redirects (undici's default).
 */
export function createSafeDispatcher(opts: SafeDispatcherOptions): Agent {
  const connectTimeoutMs = opts.connectTimeoutMs ?? 10_000;
  const maxAttempts = Math.max(1, opts.maxAddressAttempts ?? 3);
  const base = buildConnector({ ...opts.tls, timeout: connectTimeoutMs });

  const connectTo = (options: buildConnector.Options, address: string): Promise<Socket> =>
    new Promise((resolve, reject) => {
      base({ ...options, hostname: address }, (err, socket) => {
        if (err) reject(err);
        else resolve(socket);
      });
    });

  const connect: buildConnector.connector = (options, callback) => {
    const host = bareHost(options.hostname);
    const servername =
      options.protocol === 'https:' && isIP(host) === 0 ? (options.servername ?? host) : undefined;
    const run = async (): Promise<Socket> => {
      const addresses = await withTimeout(
        resolvePublicAddresses(host, {
          allowPrivateNetworks: opts.allowPrivateNetworks,
          lookup: opts.lookup,
        }),
        connectTimeoutMs,
        `resolving ${host}`,
      );
      let lastError: unknown;
      for (const candidate of addresses.slice(0, maxAttempts)) {
        try {
          return await connectTo(
            servername ? { ...options, servername } : options,
            candidate.address,
          );
        } catch (err) {
          lastError = err;
        }
      }
      throw lastError;
    };
    run().then(
      (socket) => callback(null, socket),
      (err: unknown) => callback(err instanceof Error ? err : new Error(String(err)), null),
    );
  };

  const agent = new Agent({ ...opts.agentOptions, connect });
  policies.set(agent, { allowPrivateNetworks: opts.allowPrivateNetworks, lookup: opts.lookup });
  return agent;
}
