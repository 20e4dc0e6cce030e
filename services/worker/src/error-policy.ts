import { FitRoomRateLimitedError, isFitRoomError, type FitRoomError } from '@tryon/fitroom-client';
import type { ItemError, TryonStep } from '@tryon/domain';
import { BudgetPausedError } from '@tryon/rate-limiter';
import { InvalidInputError } from './prepare.js';
import { ItemFailure } from './steps/step.js';

/**
 * What the driver does about an error a step threw:
 * - fail_item: the item fails with `reason`, nothing is retried;
 * - pause_key: FitRoom refused the key; it rests, and the job comes back after `delayMs`;
 * - wait: the budget is paused; the job comes back after `delayMs`;
 * - retry: BullMQ retries the job with backoff; on its last attempt the item fails with `reason`;
 * - reprepare: FitRoom refused an input as an image: prepare the inputs again (once) and create.
 * `lineUpAgain` gives the item's key back so it waits for another one (a long pause at create).
 * Re-creating a task is the poll step's answer to a FAILED task or one FitRoom lost (isTaskGone).
 */
export type ErrorAction =
  | { action: 'fail_item'; reason: ItemError }
  | { action: 'pause_key'; error: FitRoomError; delayMs: number; lineUpAgain: boolean }
  | { action: 'wait'; delayMs: number; lineUpAgain: boolean }
  | { action: 'retry'; reason: ItemError; fitroomError?: FitRoomError }
  | { action: 'reprepare' };

export interface ErrorSituation {
  step: TryonStep;
  /** Attempts made before this one (BullMQ's attemptsMade). */
  attemptsMade: number;
  pausedRecheckMs: number;
  parkRecheckMs: number;
  /** FitRoom refused this item's inputs as images before (they were prepared again since). */
  inputsRejected: boolean;
}

interface Rule {
  /** Whom the rule is about, for readers of the table. */
  what: string;
  matches(error: unknown): boolean;
  decide(error: never, situation: ErrorSituation): ErrorAction;
}

/** FitRoom codes that say "this key, not this request": the key rests (see pauseAfterRefusal). */
const KEY_REFUSALS = new Set(['rate_limited', 'unauthorized', 'insufficient_credit']);

/** The policy, first match wins. */
const RULES: Rule[] = [
  {
    what: 'a step decided the item fails (input check refused, task failed or timed out)',
    matches: (error) => error instanceof ItemFailure,
    decide: (error: ItemFailure) => ({ action: 'fail_item', reason: error.reason }),
  },
  {
    what: 'an input that will never work (bad URL, not an image, too large)',
    matches: (error) => error instanceof InvalidInputError,
    decide: (error: InvalidInputError) => ({
      action: 'fail_item',
      reason: { code: error.code, message: error.message },
    }),
  },
  {
    what: 'every usable key is resting',
    matches: (error) => error instanceof BudgetPausedError,
    decide: (error: BudgetPausedError, s) => ({
      action: 'wait',
      delayMs: Math.min(error.retryInMs, s.pausedRecheckMs),
      // Admitted to a key that is out for long (401, 402) before the admitter knew: line up
      // again for a usable one instead of waiting out the pause.
      lineUpAgain: s.step === 'create' && error.retryInMs > s.parkRecheckMs,
    }),
  },
  {
    what: 'FitRoom refused an input as an image (400): verified bytes are prepared again, once',
    matches: (error) => isRefusedImage(error),
    decide: (error: FitRoomError, s) =>
      s.step === 'create' && !s.inputsRejected ? { action: 'reprepare' } : refusedRequest(error),
  },
  {
    what: 'FitRoom refused the request itself (400)',
    matches: (error) => isFitRoomError(error) && error.code === 'bad_request',
    decide: (error: FitRoomError) => refusedRequest(error),
  },
  {
    what: 'FitRoom refused the key (429, 401, 402)',
    matches: (error) => isFitRoomError(error) && KEY_REFUSALS.has(error.code),
    decide: (error: FitRoomError, s) => ({
      action: 'pause_key',
      error,
      delayMs: Math.min(
        (error instanceof FitRoomRateLimitedError ? error.retryAfterMs : undefined) ??
          s.pausedRecheckMs,
        s.pausedRecheckMs,
      ),
      // This key is out for a while: line up again for another one.
      lineUpAgain: error.code !== 'rate_limited' && s.step === 'create',
    }),
  },
  {
    what: 'FitRoom failed otherwise (5xx, timeout, network)',
    matches: isFitRoomError,
    decide: (error: FitRoomError) => ({
      action: 'retry',
      fitroomError: error,
      reason: {
        code: 'fitroom_unavailable',
        message: `FitRoom kept failing (${error.code}${error.status ? ` ${error.status}` : ''}): ${error.fitroomMessage ?? error.message}`,
      },
    }),
  },
  {
    what: 'anything else: storage outages, Redis hiccups, network trouble fetching inputs',
    matches: () => true,
    decide: (_error: unknown, s) => ({
      action: 'retry',
      reason: {
        code: 'internal_error',
        message: `could not ${s.step} the item after ${s.attemptsMade + 1} attempts`,
      },
    }),
  },
];

function refusedRequest(error: FitRoomError): ErrorAction {
  return {
    action: 'fail_item',
    reason: {
      code: 'fitroom_bad_request',
      message: `FitRoom refused the request: ${error.fitroomMessage ?? error.message}`,
    },
  };
}

/** A 400 about one of the images (undecodable, unreadable): our bytes, not the request's shape. */
function isRefusedImage(error: unknown): boolean {
  return (
    isFitRoomError(error) &&
    error.code === 'bad_request' &&
    /image/i.test(error.fitroomMessage ?? error.message)
  );
}

export function errorAction(error: unknown, situation: ErrorSituation): ErrorAction {
  const rule = RULES.find((r) => r.matches(error))!;
  return rule.decide(error as never, situation);
}

/** A poll that finds FitRoom no longer knows the task: the task counts as FAILED and is re-created. */
export function isTaskGone(error: unknown): boolean {
  return isFitRoomError(error) && error.code === 'not_found';
}
