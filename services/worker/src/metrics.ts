import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { BudgetUsage, RateLimiter } from '@tryon/rate-limiter';

export type CreditKind = 'spent' | 'possibly_spent';
export type WebhookOutcome = 'delivered' | 'failed';

export interface WorkerMetricSources {
  limiter: RateLimiter;
  budgetKeys: string[];
  /** Jobs this process is running now, by queue name. */
  jobsRunning: () => Record<string, number>;
}

const SECOND_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600];

/**
 * The worker's Prometheus metrics, in a registry of its own (several workers can live in one
 * process, as in tests and `pnpm start`). Budget gauges are read from the shared limiter when
 * scraped; the rest is counted by the calls below. Event-loop lag comes with the default metrics
 * (nodejs_eventloop_lag_seconds and its percentiles).
 */
export class WorkerMetrics {
  readonly registry = new Registry();
  private readonly fitroomRequests: Counter<'key' | 'endpoint' | 'status'>;
  private readonly stepSeconds: Histogram<'step'>;
  private readonly detectionLagSeconds: Histogram;
  private readonly creditsCounter: Counter<'key' | 'kind'>;
  private readonly webhookDeliveries: Counter<'outcome'>;

  constructor(sources: WorkerMetricSources) {
    collectDefaultMetrics({ register: this.registry });
    const registers = [this.registry];
    this.fitroomRequests = new Counter({
      name: 'tryon_worker_fitroom_requests_total',
      help: 'FitRoom requests by budget key, endpoint (create, poll, download, ...) and HTTP status (429: refused by FitRoom)',
      labelNames: ['key', 'endpoint', 'status'],
      registers,
    });
    this.stepSeconds = new Histogram({
      name: 'tryon_worker_step_duration_seconds',
      help: 'Duration of each processing step of an item',
      labelNames: ['step'],
      buckets: SECOND_BUCKETS,
      registers,
    });
    this.detectionLagSeconds = new Histogram({
      name: 'tryon_worker_detection_lag_seconds',
      help: 'Time from a FitRoom task finishing to the worker noticing it',
      buckets: SECOND_BUCKETS,
      registers,
    });
    this.creditsCounter = new Counter({
      name: 'tryon_worker_credits_total',
      help: 'FitRoom credits by budget key: spent, or possibly spent (a create whose answer was lost)',
      labelNames: ['key', 'kind'],
      registers,
    });
    this.webhookDeliveries = new Counter({
      name: 'tryon_worker_webhook_deliveries_total',
      help: 'Webhook delivery attempts by outcome',
      labelNames: ['outcome'],
      registers,
    });
    registerBudgetGauges(this.registry, sources);
    new Gauge({
      name: 'tryon_worker_jobs_running',
      help: 'Jobs this worker process is running now, by queue (try-on steps in flight)',
      labelNames: ['queue'],
      registers,
      collect() {
        for (const [queue, count] of Object.entries(sources.jobsRunning())) {
          this.set({ queue }, count);
        }
      },
    });
  }

  fitroomRequest(budgetKey: string, endpoint: string, status: number | 'error'): void {
    this.fitroomRequests.inc({ key: budgetKey, endpoint, status: String(status) });
  }

  stepDuration(step: string, ms: number): void {
    this.stepSeconds.observe({ step }, ms / 1000);
  }

  detectionLag(ms: number): void {
    this.detectionLagSeconds.observe(ms / 1000);
  }

  credits(budgetKey: string, kind: CreditKind, count = 1): void {
    this.creditsCounter.inc({ key: budgetKey, kind }, count);
  }

  webhookDelivery(outcome: WebhookOutcome): void {
    this.webhookDeliveries.inc({ outcome });
  }
}

/** Budget use, limit and pauses per key, read from the shared limiter when scraped. */
function registerBudgetGauges(registry: Registry, sources: WorkerMetricSources): void {
  // One read of the limiter serves every gauge of the same scrape.
  let reading: { at: number; usages: Promise<BudgetUsage[]> } | null = null;
  const usages = (): Promise<BudgetUsage[]> => {
    if (!reading || Date.now() - reading.at > 250) {
      const read = Promise.all(sources.budgetKeys.map((k) => sources.limiter.usage(k)));
      reading = { at: Date.now(), usages: read };
    }
    return reading.usages;
  };
  const perKey = (name: string, help: string, value: (usage: BudgetUsage) => number): void => {
    new Gauge({
      name,
      help,
      labelNames: ['key'],
      registers: [registry],
      async collect() {
        for (const usage of await usages()) this.set({ key: usage.budgetKey }, value(usage));
      },
    });
  };
  perKey(
    'tryon_worker_budget_used',
    'FitRoom budget slots counted against the current window, per key (all workers)',
    (u) => u.inUse,
  );
  perKey(
    'tryon_worker_budget_limit',
    'FitRoom requests allowed per window, per key',
    (u) => u.limit,
  );
  perKey(
    'tryon_worker_fitroom_requests_in_flight',
    'FitRoom requests sent and not answered yet, per key (all workers)',
    (u) => u.inFlight,
  );
  perKey(
    'tryon_worker_budget_paused',
    '1 while a key is paused after FitRoom refused it (429), else 0',
    (u) => (u.pausedMs > 0 ? 1 : 0),
  );
  perKey(
    'tryon_worker_budget_paused_remaining_seconds',
    'Seconds left in the pause of a key',
    (u) => u.pausedMs / 1000,
  );
}
