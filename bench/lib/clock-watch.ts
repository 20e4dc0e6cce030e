/**
 * Watches the wall clock against the monotonic one during a run. The shared budget counts in
 * Redis's TIME (the wall clock) and the simulator's rolling window in monotonic time: a step of
 * the wall clock (an NTP correction, a resumed VM) moves every slot's free time at once, which
 * can let a burst of requests through that the simulator answers with 429. A run reports the
 * steps it saw, so a 429 is told apart from a limiter fault.
 */
export class ClockWatch {
  private readonly timer: NodeJS.Timeout;
  private last = ClockWatch.offset();
  private stepsMs = 0;

  /** Wall-clock minus monotonic epoch milliseconds: constant while the wall clock does not step. */
  private static offset(): number {
    return Date.now() - (performance.timeOrigin + performance.now());
  }

  constructor(
    intervalMs = 250,
    private readonly thresholdMs = 20,
  ) {
    this.timer = setInterval(() => this.sample(), intervalMs);
    this.timer.unref();
  }

  private sample(): void {
    const offset = ClockWatch.offset();
    const step = Math.abs(offset - this.last);
    if (step >= this.thresholdMs) this.stepsMs += step;
    this.last = offset;
  }

  /** Stops watching; the sum of the wall clock's steps, in ms. */
  stop(): number {
    clearInterval(this.timer);
    this.sample();
    return Math.round(this.stepsMs);
  }
}
