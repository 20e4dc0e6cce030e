import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';

/** One named check and whether it passes now. */
export type HealthChecks = Record<string, boolean>;

export interface WorkerProbes {
  /** Alive: Redis connections up and job loops running. A failing one asks for a restart. */
  health(): HealthChecks;
  /** Ready: alive and not closing. */
  readiness(): HealthChecks;
  registry: Registry;
}

export interface WorkerHttpServer {
  url: string;
  close(): Promise<void>;
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' });
  res.end(JSON.stringify(body));
}

function sendChecks(res: ServerResponse, checks: HealthChecks): void {
  const ok = Object.values(checks).every(Boolean);
  sendJson(res, ok ? 200 : 503, { status: ok ? 'ok' : 'failing', checks });
}

async function route(probes: WorkerProbes, req: IncomingMessage, res: ServerResponse) {
  const path = new URL(req.url ?? '/', 'http://worker').pathname;
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    sendJson(res, 405, { error: { code: 'method_not_allowed', message: 'Use GET' } });
  } else if (path === '/healthz') {
    sendChecks(res, probes.health());
  } else if (path === '/readyz') {
    sendChecks(res, probes.readiness());
  } else if (path === '/metrics') {
    const body = await probes.registry.metrics();
    res.writeHead(200, { 'content-type': probes.registry.contentType });
    res.end(body);
  } else {
    sendJson(res, 404, { error: { code: 'not_found', message: `No route ${path}` } });
  }
}

/** The worker's /healthz, /readyz and /metrics, on a plain HTTP server of their own. */
export async function startWorkerHttpServer(
  probes: WorkerProbes,
  listen: { host: string; port: number },
): Promise<WorkerHttpServer> {
  const server = createServer((req, res) => {
    route(probes, req, res).catch((error: unknown) => {
      const message = error instanceof Error ? error.message : String(error);
      if (!res.headersSent) sendJson(res, 500, { error: { code: 'internal', message } });
      else res.destroy();
    });
  });
  // Scrapes are short; a stuck client must not hold the process open on close.
  server.requestTimeout = 10_000;
  server.headersTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(listen.port, listen.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const host = listen.host.includes(':') ? `[${listen.host}]` : listen.host;
  return {
    url: `http://${host}:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
