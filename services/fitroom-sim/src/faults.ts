/**
 * Faults that happen after a task exists (the credit is spent, the client may not know) and
 * spurious 429s whose Retry-After asks for no wait. Each is a rate (0..1, drawn from a seeded
 * stream) or a deterministic "every Nth" create (or request) so tests can force them.
 */
import type { Random } from './random.js';

/** How often a fault happens: a share of the chances, and/or every Nth chance (1: always). */
export interface FaultRate {
  rate?: number;
  every?: number;
}

export const CREATE_FAULTS = ['lateCreate', 'resetAfterCreate', 'errorAfterCreate'] as const;
export type CreateFault = (typeof CREATE_FAULTS)[number];

export const FAULT_NAMES = [
  ...CREATE_FAULTS,
  'notFoundAfterCreate',
  'retryAfterZero',
  'retryAfterPast',
] as const;
export type FaultName = (typeof FAULT_NAMES)[number];

export interface FaultConfig {
  /** A create whose task is made and charged, answered 200 only after `lateCreateMs`. */
  lateCreate: FaultRate;
  /** FitRoom ms before a late create is answered (scaled like everything else). */
  lateCreateMs: number;
  /** The task is made and charged, then the connection is reset without an answer. */
  resetAfterCreate: FaultRate;
  /** The task is made and charged, then the create answers 500. */
  errorAfterCreate: FaultRate;
  /** The created task answers 404 to polls for `notFoundMs` after its creation. */
  notFoundAfterCreate: FaultRate;
  /** FitRoom ms of the 404 window. */
  notFoundMs: number;
  /** An admitted API request answered 429 with `Retry-After: 0`. */
  retryAfterZero: FaultRate;
  /** An admitted API request answered 429 with a `Retry-After` HTTP date in the past. */
  retryAfterPast: FaultRate;
}

export const FAULT_DEFAULTS: FaultConfig = {
  lateCreate: {},
  lateCreateMs: 30_000,
  resetAfterCreate: {},
  errorAfterCreate: {},
  notFoundAfterCreate: {},
  notFoundMs: 2_000,
  retryAfterZero: {},
  retryAfterPast: {},
};

/** The fault to inject after a task was created, if any. */
export type CreateOutcome = CreateFault | undefined;

/**
 * Decides faults. Counters run per fault name and count its chances (creates for the create
 * faults, admitted API requests for the 429s); a fault with neither rate nor every draws
 * nothing, so the other random streams and default runs are unchanged.
 */
export class FaultPicker {
  private readonly chances = new Map<FaultName, number>();

  constructor(private readonly random: Random) {}

  happens(name: FaultName, fault: FaultRate): boolean {
    const rate = fault.rate ?? 0;
    const every = fault.every ?? 0;
    if (rate <= 0 && every <= 0) return false;
    const n = (this.chances.get(name) ?? 0) + 1;
    this.chances.set(name, n);
    if (every > 0 && n % every === 0) return true;
    return rate > 0 && this.random() < rate;
  }

  /** At most one of the create faults for a create that made its task. */
  afterCreate(config: FaultConfig): CreateOutcome {
    return CREATE_FAULTS.find((name) => this.happens(name, config[name]));
  }

  /** A spurious 429 for an admitted request: which Retry-After it carries, if any. */
  spurious429(config: FaultConfig): 'zero' | 'past' | undefined {
    if (this.happens('retryAfterZero', config.retryAfterZero)) return 'zero';
    if (this.happens('retryAfterPast', config.retryAfterPast)) return 'past';
    return undefined;
  }
}

/** Problems with a fault config, for validation (empty when fine). */
export function faultProblems(config: FaultConfig): string[] {
  const problems: string[] = [];
  for (const name of FAULT_NAMES) {
    const fault = config[name] as unknown;
    if (typeof fault !== 'object' || fault === null) {
      problems.push(`faults.${name} must be an object { rate?, every? }`);
      continue;
    }
    const { rate, every } = fault as FaultRate;
    if (rate !== undefined && !(typeof rate === 'number' && rate >= 0 && rate <= 1)) {
      problems.push(`faults.${name}.rate must be between 0 and 1 (got ${String(rate)})`);
    }
    if (every !== undefined && !(Number.isSafeInteger(every) && every >= 0)) {
      problems.push(`faults.${name}.every must be an integer >= 0 (got ${String(every)})`);
    }
  }
  for (const name of ['lateCreateMs', 'notFoundMs'] as const) {
    const v = config[name];
    if (!(typeof v === 'number' && Number.isFinite(v) && v >= 0)) {
      problems.push(`faults.${name} must be a number >= 0 (got ${String(v)})`);
    }
  }
  return problems;
}
