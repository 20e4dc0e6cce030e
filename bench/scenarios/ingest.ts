/**
 * `pnpm bench ingest`: how fast the api accepts a big matrix batch of uploaded assets (POST to
 * 202), and how the batch status route holds up at a fixed request rate while the workers run
 * on that batch. `--drain` then waits for the whole batch, to see worker memory through a full
 * run.
 */
import { COMMON_FLAGS, parseFlags, UsageError } from '../lib/args.js';
import { ApiClient, simStats } from '../lib/client.js';
import { fixedRateLoad } from '../lib/load.js';
import {
  diffBuckets,
  histogramQuantile,
  scrapeEventLoopDelay,
  scrapeHistogram,
  shareAtMost,
} from '../lib/prometheus.js';
import { fmt, type Reporter } from '../lib/report.js';
import { round, type JsonRecord } from '../lib/stats.js';
import {
  every,
  resolveCommon,
  rssNumbers,
  uploadMatrix,
  withStack,
  WORKER_RSS_LIMIT_MB,
  type CommonOptions,
  type Scenario,
} from './common.js';

const FLAGS = {
  ...COMMON_FLAGS,
  items: {
    type: 'number',
    help: 'items in the matrix batch (default 10000)',
    min: 1,
    max: 100_000,
    integer: true,
  },
  rate: {
    type: 'number',
    help: 'GET /v1/batches/:id requests per second (default 200)',
    min: 1,
    max: 5_000,
  },
  duration: {
    type: 'number',
    help: 'seconds of status load (default 15)',
    min: 1,
    max: 600,
  },
  drain: {
    type: 'boolean',
    help: 'then wait until the whole batch is done (worker RSS through a full run)',
  },
  hd: { type: 'boolean', help: 'hd_mode items' },
} as const;

export interface IngestOptions {
  common: CommonOptions;
  items: number;
  rate: number;
  durationS: number;
  drain: boolean;
  hd: boolean;
}

const TENANT = 'bench';
const HISTOGRAM = 'http_request_duration_seconds';
const ACCEPT_LIMIT_MS = 1_000;
const STATUS_P99_LIMIT_MS = 20;

function resolve(args: readonly string[]): IngestOptions {
  const flags = parseFlags(FLAGS, args);
  const common = resolveCommon(flags, { timeScale: 20 });
  const items = flags.items ?? 10_000;
  if (items > 10_000 && !common.extraEnv.MAX_BATCH_ITEMS) {
    throw new UsageError(
      '--items above 10000 needs --env MAX_BATCH_ITEMS=<n> (the api refuses it)',
    );
  }
  return {
    common,
    items,
    rate: flags.rate ?? 200,
    durationS: flags.duration ?? 15,
    drain: flags.drain,
    hd: flags.hd,
  };
}

async function run(options: IngestOptions, reporter: Reporter): Promise<JsonRecord> {
  const { common } = options;
  return withStack('ingest', common, [TENANT], reporter, async (stack) => {
    const token = stack.tokens[TENANT] as string;
    const client = new ApiClient(stack.apiUrl, token);
    const matrix = await uploadMatrix(client, options.items, reporter);
    const start = Date.now();

    const accepted = await client.submitBatch({
      matrix: {
        models: matrix.models,
        garments: matrix.garments.map((cloth, g) => ({
          cloth,
          cloth_type: 'upper',
          external_id: `g${g}`,
        })),
        hd_mode: options.hd,
      },
    });
    if (accepted.status !== 202)
      throw new Error(`POST /v1/batches answered ${accepted.status}, not 202`);
    const batchId = accepted.batch.id;
    reporter.progress(
      `batch ${batchId}: ${matrix.items} items accepted in ${accepted.ms.toFixed(0)} ms`,
    );

    // Load the status route only once the workers are on the batch.
    const running = await client.waitForBatch(batchId, {
      timeoutMs: 60_000,
      intervalMs: 100,
      until: (b) => b.counts.running > 0 || b.counts.completed > 0,
      onTick: () => stack.assertAlive(),
    });
    if (running.timedOut) throw new Error('no item of the batch started within 60 s');
    reporter.progress(
      `workers running; GET /v1/batches/${batchId} at ${options.rate}/s for ${options.durationS} s`,
    );
    const metricsUrl = `${stack.apiUrl}/metrics`;
    const isStatusRoute = (l: Record<string, string>): boolean =>
      l.method === 'GET' && l.route === '/v1/batches/:id' && l.status_code === '200';
    const before = await scrapeHistogram(metricsUrl, HISTOGRAM, isStatusRoute).catch(() => null);
    // This scrape also restarts the api's event-loop delay histogram: the next covers the load.
    const load = await fixedRateLoad({
      url: `${stack.apiUrl}/v1/batches/${batchId}`,
      headers: { authorization: `Bearer ${token}` },
      rate: options.rate,
      durationS: options.durationS,
    });
    const loop = await scrapeEventLoopDelay(metricsUrl).catch(() => ({
      p99_ms: null,
      max_ms: null,
    }));
    const after = await scrapeHistogram(metricsUrl, HISTOGRAM, isStatusRoute).catch(() => null);
    const server = before && after ? diffBuckets(after, before) : null;
    const serverMs = (q: number): number | null =>
      server ? round((histogramQuantile(server, q) ?? NaN) * 1000, 1) : null;
    stack.assertAlive();
    reporter.progress(
      `status route: p50 ${fmt.n(load.p50_ms)} ms, p99 ${fmt.n(load.p99_ms)} ms, ${load.errors} errors`,
    );

    let timedOut = false;
    let drained = false;
    if (options.drain) {
      const taskMs = (options.hd ? 30_000 : 9_000) / common.timeScale;
      const timeoutMs =
        (common.timeoutS ??
          (matrix.items / (10 * common.keys)) * (60 / common.timeScale) + taskMs / 1000 + 120) *
        1000;
      const tick = every(15_000);
      const waited = await client.waitForBatch(batchId, {
        timeoutMs,
        intervalMs: 1_000,
        onTick: (b) => {
          stack.assertAlive();
          if (tick()) {
            reporter.progress(
              `${b.counts.completed}/${b.counts.total} completed; worker RSS peak so far ${String(rssNumbers(stack).worker_rss_peak_mb)} MB`,
            );
          }
        },
      });
      timedOut = waited.timedOut;
      drained = !timedOut;
    }
    const final = await client.batch(batchId);
    if (final.status !== 'completed') await client.cancel(batchId).catch(() => undefined);
    const stats = await simStats(stack.simUrl);
    await stack.rss.stop();
    const keyStats = stack.apiKeys.map((k) => stats.keys[k]);
    const rss = rssNumbers(stack);
    const workerRss = rss.worker_rss_peak_mb as number | null;
    const itemsPerS = round(matrix.items / (accepted.ms / 1000), 0);

    const targets = {
      accept_le_1000_ms: accepted.ms <= ACCEPT_LIMIT_MS,
      status_p99_le_20_ms: load.p99_ms !== null && load.p99_ms <= STATUS_P99_LIMIT_MS,
      status_no_errors: load.errors === 0,
      worker_rss_lt_250_mb: workerRss !== null && workerRss < WORKER_RSS_LIMIT_MB,
    };
    const record: JsonRecord = {
      scenario: 'ingest',
      items: matrix.items,
      accept_ms: round(accepted.ms, 1),
      items_per_s: itemsPerS,
      upload_ms: round(matrix.uploadMs, 0),
      status_rate: options.rate,
      status_duration_s: options.durationS,
      status_requests: load.requests,
      status_achieved_rps: load.achieved_rps,
      status_p50_ms: load.p50_ms,
      status_p90_ms: load.p90_ms,
      status_p99_ms: load.p99_ms,
      status_max_ms: load.max_ms,
      status_errors: load.errors,
      server_p50_ms: serverMs(0.5),
      server_p99_ms: serverMs(0.99),
      server_share_le_25_ms: server ? round(shareAtMost(server, 0.025), 4) : null,
      api_event_loop_p99_ms: round(loop.p99_ms, 1),
      api_event_loop_max_ms: round(loop.max_ms, 1),
      status_error_kinds: load.error_kinds,
      status_max_in_flight: load.max_in_flight,
      status_max_schedule_lag_ms: load.max_schedule_lag_ms,
      workers: common.workers,
      keys: common.keys,
      time_scale: common.timeScale,
      hd: options.hd,
      completed: final.counts.completed,
      failed: final.counts.failed,
      drained,
      http_429: keyStats.reduce((sum, s) => sum + (s?.http_429 ?? 0), 0),
      max_in_window: Math.max(0, ...keyStats.map((s) => s?.max_in_window ?? 0)),
      duration_s: round((Date.now() - start) / 1000, 1),
      ...rss,
      timed_out: timedOut,
      targets,
    };
    reporter.summary(
      `ingest: ${matrix.items}-item matrix batch, ${common.workers} worker(s), ${common.keys} key(s), time scale ${common.timeScale}`,
      [
        [
          'accept (POST -> 202)',
          `${fmt.n(accepted.ms, 1)} ms, ${String(itemsPerS)} items/s${fmt.target(targets.accept_le_1000_ms)}`,
        ],
        [
          'asset upload',
          `${fmt.n(matrix.uploadMs, 0)} ms (${matrix.models.length + matrix.garments.length} images)`,
        ],
        [
          'GET /v1/batches/:id',
          `${load.requests} requests at ${options.rate}/s (achieved ${fmt.n(load.achieved_rps, 1)}/s): ` +
            `p50 ${fmt.n(load.p50_ms)} ms, p90 ${fmt.n(load.p90_ms)} ms, p99 ${fmt.n(load.p99_ms)} ms, max ${fmt.n(load.max_ms)} ms${fmt.target(targets.status_p99_le_20_ms)}`,
        ],
        [
          '  as the api saw it',
          `p50 ${fmt.n(record.server_p50_ms as number | null, 1)} ms, p99 ${fmt.n(record.server_p99_ms as number | null, 1)} ms ` +
            `(interpolated in its /metrics histogram buckets), ${fmt.n(((record.server_share_le_25_ms as number | null) ?? NaN) * 100, 2)}% within 25 ms`,
        ],
        [
          '  api event-loop delay',
          `p99 ${fmt.n(loop.p99_ms, 1)} ms, max ${fmt.n(loop.max_ms, 1)} ms during the load`,
        ],
        [
          '  client schedule lag',
          `max ${fmt.n(load.max_schedule_lag_ms, 1)} ms (how late this process started a request: CPU contention on the client side)`,
        ],
        ['  errors', `${load.errors}${load.errors ? ` ${JSON.stringify(load.error_kinds)}` : ''}`],
        [
          'batch',
          `${final.counts.completed}/${final.counts.total} completed${options.drain ? (drained ? ' (drained)' : ' (drain TIMED OUT)') : ' (then cancelled)'}`,
        ],
        [
          'http 429 / max in window',
          `${String(record.http_429)} / ${String(record.max_in_window)}`,
        ],
        [
          'worker RSS peak',
          `${workerRss ?? 'n/a'} MB (each: ${(rss.worker_rss_peak_mb_each as number[]).join(', ')}); api ${String(rss.api_rss_peak_mb)} MB${fmt.target(targets.worker_rss_lt_250_mb)}`,
        ],
      ],
    );
    return record;
  });
}

export const ingest: Scenario<IngestOptions> = {
  name: 'ingest',
  summary:
    'Accept time of a big matrix batch, and the batch status route under fixed-rate load while workers run.',
  flags: FLAGS,
  resolve,
  run,
};
