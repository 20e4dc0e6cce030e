import type { FastifyPluginCallbackTypebox } from '@fastify/type-provider-typebox';
import { Type, type Static } from '@sinclair/typebox';
import { budgetKeyFor, type BudgetUsage } from '@tryon/rate-limiter';
import type { RouteDeps } from '../deps.js';
import { ApiError } from '../errors.js';
import { errorResponses, TryOnState } from '../schemas.js';

const KeyState = Type.Object({
  budget_key: Type.String({ description: 'A stable hash naming the FitRoom key, never the key' }),
  paused: Type.Boolean(),
  reason: Type.Union([Type.String(), Type.Null()], {
    description: 'rate_limited (a 429), unauthorized (401: a wrong key), insufficient_credit (402)',
  }),
  resumes_in_ms: Type.Integer({ description: '0 when not paused' }),
});

const KeysAnswer = Type.Object({ keys: Type.Array(KeyState), try_on: TryOnState });
const ResumeParams = Type.Object({ budgetKey: Type.String({ minLength: 1, maxLength: 64 }) });
const ResumeAnswer = Type.Object({ key: KeyState, try_on: TryOnState });

function keyState(usage: BudgetUsage): Static<typeof KeyState> {
  return {
    budget_key: usage.budgetKey,
    paused: usage.pausedMs > 0,
    reason: usage.pausedReason,
    resumes_in_ms: usage.pausedMs,
  };
}

/**
 * What the keys' pauses mean for try-ons: with no usable key, items wait in line (none fails
 * for it) until a key resumes by itself or through POST /admin/keys/{budget_key}/resume.
 */
export function tryOnState(usages: BudgetUsage[]): Static<typeof TryOnState> {
  const paused = usages.filter((u) => u.pausedMs > 0);
  const usable = usages.length - paused.length;
  if (usages.length === 0 || usable > 0)
    return { paused: false, reason: null, usable_keys: usable };
  const why = paused
    .map(
      (u) =>
        `${u.budgetKey}: ${u.pausedReason ?? 'paused'}, ${Math.ceil(u.pausedMs / 1000)} s left`,
    )
    .join('; ');
  return {
    paused: true,
    reason:
      `every FitRoom key is paused (${why}); items wait and none fails for it. Fix the key ` +
      '(credit, a wrong key) and POST /admin/keys/{budget_key}/resume, or wait for the pause to end',
    usable_keys: 0,
  };
}

/** /admin/keys: the FitRoom keys' pauses, and resuming one by hand once it is fixed. */
export const adminKeyRoutes: FastifyPluginCallbackTypebox<RouteDeps> = (app, deps, done) => {
  const budgetKeys = () => deps.config.fitroom.apiKeys.map(budgetKeyFor);
  const usages = () => Promise.all(budgetKeys().map((key) => deps.limiter.usage(key)));

  app.get(
    '/keys',
    {
      schema: {
        tags: ['admin'],
        summary: 'FitRoom keys by budget name: paused or not, why, and whether try-ons can run',
        response: { 200: KeysAnswer, ...errorResponses(401) },
      },
    },
    async () => {
      const all = await usages();
      return { keys: all.map(keyState), try_on: tryOnState(all) };
    },
  );

  app.post(
    '/keys/:budgetKey/resume',
    {
      schema: {
        tags: ['admin'],
        summary: 'Ends the pause of a FitRoom key (after topping up credit or fixing the key)',
        description:
          'Keys are named by their budget name (GET /admin/keys, /admin/status). Work that waited ' +
          'for a usable key goes on within a moment. A key still refused by FitRoom pauses again.',
        params: ResumeParams,
        response: { 200: ResumeAnswer, ...errorResponses(401, 404) },
      },
    },
    async (request) => {
      const { budgetKey } = request.params;
      if (!budgetKeys().includes(budgetKey)) {
        throw new ApiError(404, 'key_not_found', 'no FitRoom key with this budget name');
      }
      await deps.limiter.resume(budgetKey);
      request.log.info({ budgetKey }, 'FitRoom key resumed by an operator');
      const all = await usages();
      return {
        key: keyState(all.find((u) => u.budgetKey === budgetKey)!),
        try_on: tryOnState(all),
      };
    },
  );
  done();
};
