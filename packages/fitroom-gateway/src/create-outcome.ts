import { isFitRoomError } from '@tryon/fitroom-client';

/**
 * How a FitRoom create ended, as far as credits go (see DESIGN.md, "Credits"):
 * - `spent`: FitRoom answered with a task; one credit, the task id is ours;
 * - `not_sent`: the request never left (no connection, no DNS, no budget token): nothing spent,
 *   safe to send again;
 * - `refused`: FitRoom answered without making a task (4xx, 503 "offline for maintenance"):
 *   nothing spent, FitRoom's word decides what comes next;
 * - `possibly_spent`: the request left and no usable answer came back (a timeout or a reset
 *   after the send, a 500 or other 5xx, a 2xx we cannot read): FitRoom may have made a task we
 *   will never know, and it cannot be looked up (FitRoom has no task list).
 */
export type CreateOutcome = 'spent' | 'not_sent' | 'refused' | 'possibly_spent';

/** Socket and DNS failures that happen before a single byte of the request is sent. */
const NEVER_SENT_CODES = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EAI_FAIL',
  'EAI_NONAME',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EHOSTDOWN',
  'ENETDOWN',
  'UND_ERR_CONNECT_TIMEOUT',
]);

/** The error codes along an error's cause chain (undici nests socket errors). */
function codesOf(error: unknown): string[] {
  const codes: string[] = [];
  let current: unknown = error;
  for (let depth = 0; depth < 5 && current !== null && typeof current === 'object'; depth++) {
    const { code, cause } = current as { code?: unknown; cause?: unknown };
    if (typeof code === 'string') codes.push(code);
    current = cause;
  }
  return codes;
}

/**
 * The outcome of a create that threw. FitRoom errors with a status are FitRoom's word (5xx
 * other than 503 may hide a task: the simulator's errorAfterCreate does exactly that); without
 * a status the request left unless the socket or DNS failed before it was sent. Anything else
 * (the budget paused, a Redis error taking the token, a form that could not be built) happened
 * before the send.
 */
export function createOutcomeOf(error: unknown): Exclude<CreateOutcome, 'spent'> {
  if (!isFitRoomError(error)) return 'not_sent';
  const { status } = error;
  if (status !== undefined) {
    if (status >= 200 && status < 300) return 'possibly_spent';
    if (status >= 500 && status !== 503) return 'possibly_spent';
    return 'refused';
  }
  if (codesOf(error).some((code) => NEVER_SENT_CODES.has(code))) return 'not_sent';
  return 'possibly_spent';
}

/** Credits of one create outcome: what FitRoom charged lies in [spent, spent + possibly_spent]. */
export function creditsOf(outcome: CreateOutcome): { spent: number; possibly_spent: number } {
  return {
    spent: outcome === 'spent' ? 1 : 0,
    possibly_spent: outcome === 'possibly_spent' ? 1 : 0,
  };
}

/**
 * Where a create's credit is written down: `open` just before the request is sent (from then
 * on, until settled, the credit counts as possibly spent, so a crash mid-create keeps the
 * books right), `settle` once the outcome is known. Both are called at most once per create.
 */
export interface CreateLedger {
  open(): Promise<void>;
  settle(outcome: CreateOutcome): Promise<void>;
}
