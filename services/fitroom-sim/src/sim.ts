import type { AddressInfo } from 'node:net';
import { resolveConfig } from './config.js';
import type { RunningSim, SimOptions } from './options.js';
import { ResultStore } from './render.js';
import { buildServer } from './server.js';
import { Simulator } from './simulator.js';

function urlHost(host: string): string {
  if (host === '0.0.0.0') return '127.0.0.1';
  if (host === '::') return '[::1]';
  return host.includes(':') ? `[${host}]` : host;
}

/**
 * Starts a FitRoom simulator listening on `options.host` (default 127.0.0.1) and
 * `options.port` (default 0: a free port). Throws SimConfigError for invalid options.
 */
export async function startSim(options: SimOptions = {}): Promise<RunningSim> {
  const config = resolveConfig(options);
  const results = await ResultStore.create();
  const sim = new Simulator(config, results, (error) => {
    app.log.error({ err: error }, 'rendering a try-on result failed');
  });
  const app = buildServer(sim);
  try {
    await app.listen({ host: config.host, port: config.port });
  } catch (error) {
    await results.close();
    throw error;
  }
  const { port } = app.server.address() as AddressInfo;
  const url = `http://${urlHost(config.host)}:${port}`;
  sim.baseUrl = url;

  let closing: Promise<void> | undefined;
  return {
    url,
    stats: () => sim.stats(),
    tasks: (query) => sim.taskTimes(query),
    configure: (patch) => {
      sim.configure(patch);
    },
    close: () =>
      (closing ??= (async () => {
        await app.close();
        await results.close();
      })()),
  };
}
