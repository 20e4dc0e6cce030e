import { createHash } from 'node:crypto';

/** A source of uniform numbers in [0, 1). */
export type Random = () => number;

/**
 * Seeded PRNG (mulberry32) for one purpose. Each purpose (task draws, fault injection,
 * latency, ids) gets its own stream derived from the simulator's seed and a label, so e.g. the
 * number of polls a client makes does not change which tasks fail.
 */
export function seededRandom(seed: number, label: string): Random {
  const digest = createHash('sha256').update(`${seed}:${label}`).digest();
  let state = digest.readUInt32LE(0);
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
