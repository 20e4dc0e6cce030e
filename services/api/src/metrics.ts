import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { TryonQueue, WebhookQueue } from '@tryon/queues';

export const QUEUE_STATES = [
  'waiting',
  'prioritized',
  'active',
  'delayed',
  'completed',
  'failed',
  'waiting-children',
] as const;

/**
 * The API's Prometheus metrics, in a registry of its own (several apps can live in one process,
 * as in tests and `pnpm start`). Queue depths are read from Redis when scraped.
 */
export class ApiMetrics {
  readonly registry = new Registry();
  readonly httpDuration: Histogram<'method' | 'route' | 'status_code'>;
  readonly batchesSubmitted: Counter;
  readonly itemsSubmitted: Counter;
  readonly rateLimited: Counter<'api'>;
  readonly batchEventStreams: Counter;
  readonly batchEventStreamsOpen: Gauge;

  constructor(
    queues: { tryon: TryonQueue; webhooks: WebhookQueue },
    /** Open batches past their submit-time ETA (see BatchDeadlines). */
    overdueBatches: () => Promise<number>,
  ) {
    collectDefaultMetrics({ register: this.registry });
    this.httpDuration = new Histogram({
      name: 'http_request_duration_seconds',
      help: 'HTTP request duration by route and status',
      labelNames: ['method', 'route', 'status_code'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [this.registry],
    });
    this.batchesSubmitted = new Counter({
      name: 'tryon_batches_submitted_total',
      help: 'Batches accepted by POST /v1/batches (idempotent replays not counted)',
      registers: [this.registry],
    });
    this.itemsSubmitted = new Counter({
      name: 'tryon_items_submitted_total',
      help: 'Items in the batches accepted by POST /v1/batches',
      registers: [this.registry],
    });
    this.rateLimited = new Counter({
      name: 'tryon_api_rate_limited_total',
      help: 'Requests refused with 429 by the per-tenant limit (API_RATE_LIMIT), by API',
      labelNames: ['api'],
      registers: [this.registry],
    });
    // Event streams are hijacked replies: http_request_duration_seconds never sees them.
    this.batchEventStreams = new Counter({
      name: 'tryon_batch_event_streams_total',
      help: 'Batch event streams (server-sent events) opened',
      registers: [this.registry],
    });
    this.batchEventStreamsOpen = new Gauge({
      name: 'tryon_batch_event_streams_open',
      help: 'Batch event streams (server-sent events) open now',
      registers: [this.registry],
    });
    new Gauge({
      name: 'tryon_batches_overdue',
      help: 'Open batches past the ETA they were given at submit (plus 25%, at least a minute)',
      registers: [this.registry],
      async collect() {
        this.set(await overdueBatches());
      },
    });
    new Gauge({
      name: 'tryon_queue_jobs',
      help: 'Jobs in each BullMQ queue by state, read when scraped',
      labelNames: ['queue', 'state'],
      registers: [this.registry],
      async collect() {
        for (const queue of [queues.tryon, queues.webhooks]) {
          const counts = await queue.getJobCounts(...QUEUE_STATES);
          for (const state of QUEUE_STATES) {
            this.set({ queue: queue.name, state }, counts[state] ?? 0);
          }
        }
      },
    });
  }
}
