const UNITS: Record<string, number> = {
  ms: 1,
  s: 1_000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
};

/**
 * Parses a retry schedule such as `"5s,5m,30m,2h,5h,10h"` into delays in milliseconds (units
 * ms, s, m, h, d; decimals allowed; a bare number is milliseconds). `timeScale` N makes every
 * delay N times shorter (tests), rounded, at least 1 ms. Throws on a malformed entry.
 */
export function webhookRetrySchedule(spec: string, opts: { timeScale?: number } = {}): number[] {
  const timeScale = opts.timeScale ?? 1;
  if (!Number.isFinite(timeScale) || timeScale <= 0) {
    throw new Error(`webhook retry timeScale must be a positive number, got ${timeScale}`);
  }
  const trimmed = spec.trim();
  if (trimmed === '') return [];
  return trimmed.split(',').map((raw) => {
    const entry = raw.trim();
    const match = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?$/i.exec(entry);
    if (!match) {
      throw new Error(
        `bad webhook retry delay "${entry}" in "${spec}": expected e.g. 500ms, 5s, 5m, 2h or 1d`,
      );
    }
    const unit = UNITS[(match[2] ?? 'ms').toLowerCase()] ?? 1;
    const ms = Number(match[1]) * unit;
    return Math.max(1, Math.round(ms / timeScale));
  });
}

/**
 * The delay before retry number `attemptsMade` (BullMQ passes 1 for the first retry to a custom
 * backoff strategy). Past the end of the schedule the last delay repeats; configure the job with
 * `attempts: schedule.length + 1` so the schedule ends the retries.
 */
export function webhookRetryDelay(schedule: readonly number[], attemptsMade: number): number {
  if (schedule.length === 0) return 0;
  const index = Math.min(Math.max(1, Math.floor(attemptsMade)), schedule.length) - 1;
  return schedule[index] ?? 0;
}
