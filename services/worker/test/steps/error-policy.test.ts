import { describe, expect, it } from 'vitest';
import {
  FitRoomRateLimitedError,
  FitRoomServerError,
  FitRoomUnauthorizedError,
  FitRoomBadRequestError,
} from '@tryon/fitroom-client';
import { BudgetPausedError } from '@tryon/rate-limiter';
import { errorAction, isTaskGone, type ErrorSituation } from '../../src/error-policy.js';
import { InvalidInputError } from '../../src/prepare.js';
import { ItemFailure } from '../../src/steps/index.js';

const at = (step: ErrorSituation['step']): ErrorSituation => ({
  step,
  attemptsMade: 2,
  pausedRecheckMs: 500,
  parkRecheckMs: 60_000,
  inputsRejected: false,
});

describe('error policy', () => {
  it('fails the item for decided failures, bad inputs and requests FitRoom refuses', () => {
    const reason = { code: 'fitroom_task_timeout', message: 'late' };
    expect(errorAction(new ItemFailure(reason), at('poll'))).toEqual({
      action: 'fail_item',
      reason,
    });
    expect(errorAction(new InvalidInputError('invalid_image', 'x is not'), at('prepare'))).toEqual({
      action: 'fail_item',
      reason: { code: 'invalid_image', message: 'x is not' },
    });
    const refused = errorAction(
      new FitRoomBadRequestError('no', { status: 400, operation: 'createTask' }),
      at('create'),
    );
    expect(refused).toMatchObject({ action: 'fail_item', reason: { code: 'fitroom_bad_request' } });
  });

  it('an input refused as an image: prepared again once before failing the item', () => {
    const undecodable = new FitRoomBadRequestError('bad', {
      status: 400,
      operation: 'createTask',
      fitroomMessage: 'Your request is invalid: model_image is not a decodable image.',
    });
    expect(errorAction(undecodable, at('create'))).toEqual({ action: 'reprepare' });
    expect(errorAction(undecodable, { ...at('create'), inputsRejected: true })).toMatchObject({
      action: 'fail_item',
      reason: { code: 'fitroom_bad_request' },
    });
  });

  it('rests the key on 429 and 401; only a long refusal at create gives the key back', () => {
    const limited = new FitRoomRateLimitedError('slow down', {
      status: 429,
      operation: 'createTask',
      retryAfterMs: 200,
    });
    expect(errorAction(limited, at('create'))).toMatchObject({
      action: 'pause_key',
      delayMs: 200,
      lineUpAgain: false,
    });
    const unauthorized = new FitRoomUnauthorizedError('bad key', {
      status: 401,
      operation: 'createTask',
    });
    expect(errorAction(unauthorized, at('create'))).toMatchObject({
      action: 'pause_key',
      delayMs: 500,
      lineUpAgain: true,
    });
    expect(errorAction(unauthorized, at('poll'))).toMatchObject({ lineUpAgain: false });
  });

  it('waits out a paused budget, lining up again at create when the pause is long', () => {
    expect(errorAction(new BudgetPausedError('k', 100), at('create'))).toEqual({
      action: 'wait',
      delayMs: 100,
      lineUpAgain: false,
    });
    expect(errorAction(new BudgetPausedError('k', 120_000), at('create'))).toEqual({
      action: 'wait',
      delayMs: 500,
      lineUpAgain: true,
    });
  });

  it('retries FitRoom outages and anything else, with the reason used on the last attempt', () => {
    const outage = new FitRoomServerError('down', { status: 503, operation: 'getTask' });
    expect(errorAction(outage, at('poll'))).toMatchObject({
      action: 'retry',
      fitroomError: outage,
      reason: { code: 'fitroom_unavailable' },
    });
    expect(errorAction(new Error('s3 down'), at('store'))).toEqual({
      action: 'retry',
      reason: { code: 'internal_error', message: 'could not store the item after 3 attempts' },
    });
    expect(isTaskGone(outage)).toBe(false);
  });
});
