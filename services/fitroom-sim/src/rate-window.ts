/** Ascending timestamps with cheap removal from the front. */
class TimeLog {
  private items: number[] = [];
  private head = 0;

  get size(): number {
    return this.items.length - this.head;
  }

  /** The i-th oldest entry (0: the oldest). */
  at(i: number): number | undefined {
    return this.items[this.head + i];
  }

  push(t: number): void {
    this.items.push(t);
  }

  /** Drop every entry with t <= cutoff. */
  dropThrough(cutoff: number): void {
    while (this.head < this.items.length && (this.items[this.head] ?? Infinity) <= cutoff) {
      this.head++;
    }
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
  }
}

export type Admission = { accepted: true } | { accepted: false; retryAfterMs: number };

/**
 * FitRoom's limit for one API key: at most `limit` accepted requests in any rolling window,
 * as a sliding log of arrival times (FitRoom time). A request arriving at `now` sees the
 * accepted requests with t > now - window; an entry leaves the window at t + window.
 * Refused requests are not added to the accepted log, but every arrival goes into a second
 * log whose peak size is `maxInWindow`, so a client that over-sends shows up in the stats.
 */
export class RateWindow {
  private readonly accepted = new TimeLog();
  private readonly arrivals = new TimeLog();
  private peak = 0;

  get maxInWindow(): number {
    return this.peak;
  }

  arrive(now: number, limit: number, windowMs: number): Admission {
    const cutoff = now - windowMs;
    this.arrivals.dropThrough(cutoff);
    this.arrivals.push(now);
    this.peak = Math.max(this.peak, this.arrivals.size);

    this.accepted.dropThrough(cutoff);
    if (this.accepted.size >= limit) {
      // A slot frees when the entry that brings the log below `limit` leaves: the oldest one,
      // or a later one if the limit was lowered at run time.
      const freeing = this.accepted.at(this.accepted.size - limit) ?? now;
      return { accepted: false, retryAfterMs: Math.max(0, freeing + windowMs - now) };
    }
    this.accepted.push(now);
    return { accepted: true };
  }
}
