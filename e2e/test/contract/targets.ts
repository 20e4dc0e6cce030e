/**
 * The two things the contract suite talks to, with the same contract: the FitRoom simulator
 * itself, and this service's FitRoom-compatible routes (api and worker on real Redis and S3,
 * in front of a simulator). Each target hands out the credentials a test needs; only how a
 * credential comes to be (a simulator key, or a tenant token) differs.
 */
import { startApi, type RunningApi } from '@tryon/api';
import { loadConfig } from '@tryon/config';
import { startSim } from '@tryon/fitroom-sim';
import { createTestBucket, eventually, makeImage, serviceEnv, uniqueId } from '@tryon/testing';
import { startWorker, type RunningWorker } from '@tryon/worker';

/** FitRoom's durations and its 60-per-minute window run this many times faster. */
export const TIME_SCALE = 50;
/** Requests per key (simulator) or per tenant (service) in any rolling window. */
export const RATE_LIMIT = 60;
export const RATE_WINDOW_MS = Math.round(60_000 / TIME_SCALE);
/** The origin a browser client calls from. */
export const BROWSER_ORIGIN = 'https://shop.example';

/** One credential per client, so their polls never share a rate window. */
export const CLIENT_KEYS = ['fetch', 'axios', 'python', 'misc'] as const;
export type ClientKey = (typeof CLIENT_KEYS)[number];

export interface Target {
  name: string;
  /** The base URL a FitRoom client is configured with. */
  base: string;
  /** A credential with credit, per client. */
  key(client: ClientKey): string;
  /** A credential whose rate window the rate-limit test may spend. */
  limitedKey: string;
  /** A credential that cannot create for want of credit (may take a few seconds to arrange). */
  noCreditKey(): Promise<string>;
  close(): Promise<void>;
}

const simKeys = (label: string) =>
  Object.fromEntries(CLIENT_KEYS.map((c) => [`${label}-${c}`, 1_000]));

/** The simulator as FitRoom: keys with credit, one spent, one without. */
export async function simulatorTarget(): Promise<Target> {
  const sim = await startSim({
    timeScale: TIME_SCALE,
    rateLimit: RATE_LIMIT,
    keys: { ...simKeys('sim'), 'sim-limited': 1_000, 'sim-broke': 0 },
    seed: 31,
  });
  return {
    name: 'the FitRoom simulator',
    base: sim.url,
    key: (client) => `sim-${client}`,
    limitedKey: 'sim-limited',
    noCreditKey: () => Promise.resolve('sim-broke'),
    close: () => sim.close(),
  };
}

/**
 * The service's FitRoom-compatible routes: tenants per client, CORS for the browser origin, the
 * tenant limit shaped like FitRoom's, no PUBLIC_URL (links follow the request), one FitRoom key.
 */
export async function serviceTarget(): Promise<Target> {
  const fitroomKey = 'contract-service-fitroom-key';
  const sim = await startSim({ timeScale: TIME_SCALE, keys: { [fitroomKey]: 1_000 }, seed: 37 });
  const tokens = Object.fromEntries(
    [...CLIENT_KEYS, 'limited'].map((c) => [c, `contract-${c}-token-0123456789`]),
  );
  const config = loadConfig(
    serviceEnv({
      prefix: uniqueId('e2e-contract'),
      simUrl: sim.url,
      apiKeys: [fitroomKey],
      timeScale: TIME_SCALE,
      bucket: await createTestBucket('e2e-contract'),
      extra: {
        API_TOKENS: Object.entries(tokens)
          .map(([tenant, token]) => `${tenant}:${token}`)
          .join(','),
        ADMIN_TOKEN: 'contract-admin-token',
        API_RATE_LIMIT: String(RATE_LIMIT),
        API_RATE_WINDOW_MS: String(RATE_WINDOW_MS),
        CORS_ORIGINS: BROWSER_ORIGIN,
        PUBLIC_URL: '',
      },
    }),
  );
  let worker: RunningWorker | undefined;
  let api: RunningApi | undefined;
  try {
    worker = await startWorker(config);
    api = await startApi(config);
  } catch (error) {
    await worker?.close();
    await sim.close();
    throw error;
  }
  const running = api;
  return {
    name: "the service's FitRoom-compatible routes",
    base: running.url,
    key: (client) => tokens[client]!,
    limitedKey: tokens.limited!,
    // FitRoom tells a key has no credit only when a create is refused: spend the last credit,
    // let one more task try, and wait until the service has paused its key for it.
    async noCreditKey() {
      sim.configure({ keys: { [fitroomKey]: 0 } });
      const form = new FormData();
      const image = await makeImage({ width: 64, height: 96, color: { r: 1, g: 2, b: 3 } });
      form.set('model_image', new Blob([image], { type: 'image/jpeg' }), 'model.jpg');
      form.set('cloth_image', new Blob([image], { type: 'image/jpeg' }), 'cloth.jpg');
      form.set('cloth_type', 'upper');
      const key = tokens.misc!;
      const created = await fetch(`${running.url}/api/tryon/v2/tasks`, {
        method: 'POST',
        headers: { 'X-API-KEY': key },
        body: form,
      });
      if (created.status !== 200) throw new Error(`warm-up create answered ${created.status}`);
      await eventually(
        async () => {
          const status = await fetch(`${running.url}/admin/status`, {
            headers: { authorization: 'Bearer contract-admin-token' },
          });
          return (await status.json()) as { paused_keys: { reason: string }[] };
        },
        (status) => status.paused_keys.some((p) => p.reason === 'insufficient_credit'),
        { timeoutMs: 30_000, intervalMs: 100 },
      );
      return key;
    },
    async close() {
      await running.close();
      await worker?.close();
      await sim.close();
    },
  };
}
