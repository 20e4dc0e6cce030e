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
