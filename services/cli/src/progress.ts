import cliProgress from 'cli-progress';
import type { Batch, BatchCounts } from '@tryon/domain';
import type { TryonClient } from './api.js';
import { followBatch, isFinished, POLL_INTERVAL_MS } from './feed.js';

/** Items that will not change any more (unless retried). */
export const finishedCount = (counts: BatchCounts): number =>
  counts.completed + counts.failed + counts.cancelled;

/**
 * The ETA from the observed completion rate: items finished over the last two minutes (or
 * since watching began) per second, applied to the items left. Null until something has
 * finished while watching. A retry (fewer finished than before) starts the estimate over.
 */
export class EtaEstimator {
  private samples: { at: number; finished: number }[] = [];

  constructor(private readonly windowMs = 120_000) {}

  observe(counts: BatchCounts, at = Date.now()): void {
    const finished = finishedCount(counts);
    const last = this.samples.at(-1);
    if (last && finished < last.finished) this.samples = [];
    this.samples.push({ at, finished });
    // Keep one sample older than the window as its anchor.
    while (this.samples.length > 2 && this.samples[1]!.at <= at - this.windowMs) {
      this.samples.shift();
    }
  }

  /** Items finished per second, or null when nothing finished while watching. */
  rate(): number | null {
    const first = this.samples[0];
    const last = this.samples.at(-1);
    if (!first || !last || last.at <= first.at || last.finished <= first.finished) return null;
    return ((last.finished - first.finished) * 1000) / (last.at - first.at);
  }

  etaMs(counts: BatchCounts): number | null {
    const left = counts.total - finishedCount(counts);
    if (left <= 0) return 0;
    const rate = this.rate();
    return rate === null ? null : (left / rate) * 1000;
  }
}

/** `9s`, `3m 05s`, `2h 04m`; `-` for unknown. */
export function formatDuration(ms: number | null): string {
  if (ms === null || !Number.isFinite(ms)) return '-';
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h ${String(m % 60).padStart(2, '0')}m`;
}

export function describeCounts(counts: BatchCounts): string {
  const parts = [
    `${counts.completed} completed`,
    `${counts.failed} failed`,
    `${counts.running} running`,
    `${counts.queued} queued`,
  ];
  if (counts.cancelled > 0) parts.push(`${counts.cancelled} cancelled`);
  return parts.join(', ');
}

/** Where progress goes: a live bar on a terminal, a line now and then elsewhere, or nothing. */
interface Display {
  update(batch: Batch, etaMs: number | null): void;
  stop(): void;
}

/** A live bar on stderr (a terminal): counts by state and the ETA. */
class BarDisplay implements Display {
  private readonly bar = new cliProgress.SingleBar(
    {
      format:
        '{bar} {percentage}% {value}/{total} | {completed} done, {failed} failed, ' +
        '{running} running, {queued} queued{cancelled} | ETA {eta_text}',
      hideCursor: true,
      barsize: 24,
      stream: process.stderr,
    },
    cliProgress.Presets.shades_classic,
  );
  private started = false;

  update(batch: Batch, etaMs: number | null): void {
    const { counts } = batch;
    const payload = {
      completed: counts.completed,
      failed: counts.failed,
      running: counts.running,
      queued: counts.queued,
      cancelled: counts.cancelled > 0 ? `, ${counts.cancelled} cancelled` : '',
      eta_text: formatDuration(etaMs),
    };
    if (!this.started) {
      this.bar.start(counts.total, finishedCount(counts), payload);
      this.started = true;
    } else {
      this.bar.setTotal(counts.total);
      this.bar.update(finishedCount(counts), payload);
    }
  }

  stop(): void {
    if (this.started) this.bar.stop();
  }
}

/** Not a terminal (CI logs, a file): one line when the counts change, at most every 10 s. */
class LineDisplay implements Display {
  private lastLine = '';
  private lastAt = 0;

  constructor(private readonly everyMs = 10_000) {}

  update(batch: Batch, etaMs: number | null): void {
    const { counts } = batch;
    const line =
      `${batch.id}: ${finishedCount(counts)}/${counts.total} finished ` +
      `(${describeCounts(counts)})`;
    const now = Date.now();
    const finished = isFinished(batch);
    if (line === this.lastLine) return;
    if (!finished && this.lastAt > 0 && now - this.lastAt < this.everyMs) return;
    this.lastLine = line;
    this.lastAt = now;
    process.stderr.write(`${line}${finished ? '' : `, ETA ${formatDuration(etaMs)}`}\n`);
  }

  stop(): void {}
}

class NoDisplay implements Display {
  update(): void {}
  stop(): void {}
}

export interface WatchOptions {
  /** No display at all (--json). */
  quiet: boolean;
  intervalMs?: number;
  signal?: AbortSignal;
}

/**
 * Follows the batch until it is finished, showing progress, and answers the last snapshot
 * and whether it is finished (false when the signal aborted first).
 */
export async function watchBatch(
  client: TryonClient,
  batchId: string,
  options: WatchOptions,
): Promise<{ batch: Batch | null; finished: boolean }> {
  const display: Display = options.quiet
    ? new NoDisplay()
    : process.stderr.isTTY
      ? new BarDisplay()
      : new LineDisplay();
  const eta = new EtaEstimator();
  let last: Batch | null = null;
  try {
    for await (const batch of followBatch(client, batchId, {
      intervalMs: options.intervalMs ?? POLL_INTERVAL_MS,
      signal: options.signal,
    })) {
      eta.observe(batch.counts);
      display.update(batch, eta.etaMs(batch.counts));
      last = batch;
    }
  } finally {
    display.stop();
  }
  return { batch: last, finished: last !== null && isFinished(last) };
}

/** An AbortSignal that aborts on Ctrl-C (once), for watching that can be left. */
export function interruptSignal(): { signal: AbortSignal; dispose: () => void } {
  const controller = new AbortController();
  const onSigint = () => controller.abort();
  process.once('SIGINT', onSigint);
  return { signal: controller.signal, dispose: () => process.off('SIGINT', onSigint) };
}
