import type { Config } from '@tryon/config';
import type { RateLimiter } from '@tryon/rate-limiter';
import { budgetKeyFor } from '@tryon/rate-limiter';
import type { BatchResponse } from '@tryon/domain';
import { publicBatch, type BatchRecord, type Records } from '@tryon/records';
import {
  Admission,
  batchEta,
  defaultPollPolicy,
  DurationModel,
  firstPollDelayMs,
  itemsAhead,
  keyCap,
  REQUESTS_PER_TASK,
  type Eta,
  type TaskMode,
  type WaitingBatch,
} from '@tryon/scheduling';

/** How long one reading of the shared state serves: GET /v1/batches/:id is polled every second. */
const SNAPSHOT_MS = 1_000;
/** Batches whose mode is kept at once (see modeOf). */
const MODES_KEPT = 10_000;

interface Snapshot {
  line: WaitingBatch[];
  admitted: number;
  usableKeys: number;
  /** Until a key is usable again, when all are paused. */
  delayMs: number;
  taskMs: Record<TaskMode, number>;
  /** The learned distribution of task durations (quantile table), as the poll planner has it. */
  taskQuantilesMs: Record<TaskMode, readonly number[] | undefined>;
  /** Requests free in the usable keys' windows now. */
  freeRequests: number;
  /** Tasks in flight at once across the usable keys, per mode (the admission caps). */
  concurrency: Record<TaskMode, number>;
}

export interface EtaEstimatorDeps {
  config: Config;
  records: Records;
  limiter: RateLimiter;
}

/**
 * Gathers what batchEta needs: the admission line, the learned task durations (the same
 * DurationModel the workers feed) and which keys are usable, read at most once a second and
 * shared by every request in that second; the batch's own counts are always fresh.
 */
export class EtaEstimator {
  private readonly durations: DurationModel;
  private readonly admission: Admission;
  private snapshot: { at: number; value: Promise<Snapshot> } | null = null;
  private readonly modes = new Map<string, { at: number; value: Promise<TaskMode> }>();

  constructor(private readonly deps: EtaEstimatorDeps) {
    const { fitroom, prefix } = deps.config;
    // As the worker builds it, so both read the same learned model.
    this.durations = new DurationModel({
      redis: deps.records.redis,
      prefix,
      defaults: {
        normal: { meanMs: fitroom.normalTaskMs, sdMs: fitroom.normalTaskMs * 0.1 },
        hd: { meanMs: fitroom.hdTaskMs, sdMs: fitroom.hdTaskMs * 0.1 },
      },
      fitroomSecondMs: fitroom.rateWindowMs / 60,
      refreshMs: SNAPSHOT_MS,
    });
    this.admission = new Admission(deps.records.redis, prefix);
  }

  /** A batch as the API answers it (routes, dashboard, event stream): its public view and ETA. */
  async view(batch: BatchRecord): Promise<BatchResponse> {
    return { ...publicBatch(batch), eta: await this.forBatch(batch) };
  }

  /** The ETA of a recorded batch; null once nothing is queued or running. */
  async forBatch(batch: BatchRecord): Promise<Eta | null> {
    const left = batch.counts.queued + batch.counts.running;
    if (left === 0) return null;
    const [snapshot, mode] = await Promise.all([this.read(), this.modeOf(batch)]);
    const waiting = snapshot.line.find((b) => b.batchId === batch.id)?.waiting ?? 0;
    const othersInFlight = snapshot.admitted - Math.max(0, left - waiting);
    const ahead = itemsAhead(
      snapshot.line,
      { id: batch.id, tenantId: batch.tenant_id, priority: batch.priority },
      othersInFlight,
    );
    return this.compute(snapshot, mode, left, ahead);
  }

  /**
   * The ETA a batch of `items` items would get if it were submitted now (dry run); `items`
   * counts only those FitRoom must render (pairs served from earlier renders are immediate).
   */
  async forNewBatch(batch: {
    tenantId: string;
    priority: number;
    items: number;
    hd: boolean;
  }): Promise<Eta | null> {
    if (batch.items <= 0) return { seconds: 0, at: new Date().toISOString() };
    const snapshot = await this.read();
    const id = '(dry run)';
    const line = [
      ...snapshot.line,
      { tenantId: batch.tenantId, batchId: id, priority: batch.priority, waiting: batch.items },
    ];
    const ahead = itemsAhead(
      line,
      { id, tenantId: batch.tenantId, priority: batch.priority },
      snapshot.admitted,
    );
    return this.compute(snapshot, batch.hd ? 'hd' : 'normal', batch.items, ahead);
  }

  private compute(snapshot: Snapshot, mode: TaskMode, left: number, ahead: number) {
    const { rateLimit, rateWindowMs } = this.deps.config.fitroom;
    return batchEta({
      left,
      ahead,
      keys: snapshot.usableKeys,
      rateLimit,
      rateWindowMs,
      requestsPerTask: REQUESTS_PER_TASK,
      taskMs: snapshot.taskMs[mode],
      taskQuantilesMs: snapshot.taskQuantilesMs[mode],
      freeRequests: snapshot.freeRequests,
      concurrency: snapshot.concurrency[mode],
      delayMs: snapshot.delayMs,
      now: Date.now(),
    });
  }

  /**
   * A batch's tasks are as long as its next open item's mode (a batch rarely mixes them). Kept
   * for SNAPSHOT_MS per batch, like the snapshot: a status poller then costs one read, not three.
   */
  private modeOf(batch: BatchRecord): Promise<TaskMode> {
    const now = Date.now();
    const known = this.modes.get(batch.id);
    if (known && now - known.at <= SNAPSHOT_MS) return known.value;
    const status = batch.counts.queued > 0 ? 'queued' : 'running';
    const value = this.deps.records
      .listItems(batch.id, { status, limit: 1 })
      .then((page): TaskMode => (page.items[0]?.hd_mode ? 'hd' : 'normal'));
    // Readings older than SNAPSHOT_MS are of no use: the map never outgrows one second's batches.
    if (this.modes.size >= MODES_KEPT) this.modes.clear();
    this.modes.set(batch.id, { at: now, value });
    value.catch(() => this.modes.delete(batch.id));
    return value;
  }

  private read(): Promise<Snapshot> {
    const now = Date.now();
    if (!this.snapshot || now - this.snapshot.at > SNAPSHOT_MS) {
      const value = this.load();
      this.snapshot = { at: now, value };
      // A failed reading is not kept: the next request tries again.
      value.catch(() => {
        if (this.snapshot?.value === value) this.snapshot = null;
      });
    }
    return this.snapshot.value;
  }

  private async load(): Promise<Snapshot> {
    const { fitroom } = this.deps.config;
    const budgetKeys = fitroom.apiKeys.map(budgetKeyFor);
    const [depths, usages] = await Promise.all([
      this.admission.depths(),
      Promise.all(budgetKeys.map((key) => this.deps.limiter.usage(key))),
      this.durations.refresh(),
    ]);
    const paused = usages.filter((u) => u.pausedMs > 0);
    // Every key paused: the work waits for the first to come back, then runs on it.
    const allPaused = usages.length > 0 && paused.length === usages.length;
    const usableKeys = allPaused ? 1 : usages.length - paused.length;
    const delayMs = allPaused ? Math.min(...paused.map((u) => u.pausedMs)) : 0;
    const cap = keyCap(fitroom.rateLimit, fitroom.rateWindowMs);
    const policy = defaultPollPolicy(
      fitroom.pollIntervalMs,
      fitroom.rateWindowMs / fitroom.rateLimit,
      fitroom.rateWindowMs,
    );
    const taskMs = { normal: 0, hd: 0 };
    const taskQuantilesMs: Snapshot['taskQuantilesMs'] = { normal: undefined, hd: undefined };
    const freeRequests = usages
      .filter((u) => u.pausedMs <= 0)
      .reduce((sum, u) => sum + Math.max(0, u.limit - u.inUse), 0);
    const concurrency = { normal: 0, hd: 0 };
    for (const mode of ['normal', 'hd'] as const) {
      const estimate = this.durations.estimate(mode);
      taskMs[mode] = estimate.meanMs;
      taskQuantilesMs[mode] = estimate.quantilesMs;
      // An admitted task holds 1/slot of its key's cap until the poll that finds it done.
      const slotMs = Math.max(1, firstPollDelayMs(policy, estimate, 1));
      concurrency[mode] = usableKeys * Math.max(1, cap * slotMs);
    }
    return {
      ...depths,
      usableKeys,
      delayMs,
      taskMs,
      taskQuantilesMs,
      freeRequests,
      concurrency,
    };
  }
}
