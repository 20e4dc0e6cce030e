/** Wall-clock epoch milliseconds from a monotonic source. */
export function realNow(): number {
  return performance.timeOrigin + performance.now();
}

/**
 * FitRoom time. The simulator runs `scale` times faster than FitRoom, so its clock reads
 * `t0 + (now - t0) * scale` (epoch ms): a 9 s task reports completed_at - created_at ≈ 9 at any
 * scale. Changing the scale re-anchors the clock, so virtual time never jumps.
 */
export class VirtualClock {
  private realAnchor: number;
  private virtualAnchor: number;
  private currentScale: number;
  /** Earlier anchors (one per scale change, oldest first), so any virtual time maps back. */
  private readonly past: { real: number; virtual: number; scale: number }[] = [];

  constructor(
    scale: number,
    private readonly source: () => number = realNow,
  ) {
    this.realAnchor = source();
    this.virtualAnchor = this.realAnchor;
    this.currentScale = scale;
  }

  get scale(): number {
    return this.currentScale;
  }

  /** Virtual (FitRoom) epoch milliseconds. */
  now(): number {
    return this.virtualAnchor + (this.source() - this.realAnchor) * this.currentScale;
  }

  setScale(scale: number): void {
    const virtual = this.now();
    this.past.push({
      real: this.realAnchor,
      virtual: this.virtualAnchor,
      scale: this.currentScale,
    });
    this.realAnchor = this.source();
    this.virtualAnchor = virtual;
    this.currentScale = scale;
  }

  /** Real milliseconds corresponding to a FitRoom duration at the current scale. */
  toReal(virtualMs: number): number {
    return virtualMs / this.currentScale;
  }

  /**
   * The wall-clock (real) epoch ms at which this clock read `virtualMs`, or will read it if the
   * scale stays as it is; exact across earlier scale changes.
   */
  toRealEpoch(virtualMs: number): number {
    let anchor = { real: this.realAnchor, virtual: this.virtualAnchor, scale: this.currentScale };
    for (let i = this.past.length - 1; i >= 0 && virtualMs < anchor.virtual; i--) {
      anchor = this.past[i] ?? anchor;
    }
    return anchor.real + (virtualMs - anchor.virtual) / anchor.scale;
  }
}
