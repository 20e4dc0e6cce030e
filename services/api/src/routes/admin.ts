import { Admission } from '@tryon/scheduling';
import type { FastifyPluginCallbackTypebox } from '@fastify/type-provider-typebox';
import type { Static } from '@sinclair/typebox';
import { budgetKeyFor } from '@tryon/rate-limiter';
import { CreditBook } from '@tryon/records';
import type { TryonQueue, WebhookQueue } from '@tryon/queues';
import type { RouteDeps } from '../deps.js';
import { tryOnState } from './admin-keys.js';
import { QUEUE_STATES } from '../metrics.js';
import { batchNotFound } from '../errors.js';
import {
  AdminStatus,
  DeliveriesQuery,
  DeliveryList,
  errorResponses,
  IdParams,
  ReplayAnswer,
  type QueueStatus,
} from '../schemas.js';
import { REPLAY_DESCRIPTION } from './webhooks.js';

async function queueStatus(queue: TryonQueue | WebhookQueue): Promise<Static<typeof QueueStatus>> {
  const [counts, paused] = await Promise.all([
    queue.getJobCounts(...QUEUE_STATES),
    queue.isPaused(),
  ]);
  const count = (state: (typeof QUEUE_STATES)[number]) => counts[state] ?? 0;
  return {
    name: queue.name,
    paused,
    counts: {
      waiting: count('waiting'),
      prioritized: count('prioritized'),
      active: count('active'),
      delayed: count('delayed'),
      completed: count('completed'),
      failed: count('failed'),
      waiting_children: count('waiting-children'),
    },
  };
}

/**
 * What GET /admin/status answers: queues, FitRoom budget per key, paused keys, tasks in flight,
 * recent FitRoom errors. Shared with the operator page of the dashboard.
 */
export async function adminStatus(deps: RouteDeps): Promise<Static<typeof AdminStatus>> {
  const budgetKeys = deps.config.fitroom.apiKeys.map(budgetKeyFor);
  const [tryon, webhooks, usages, credits, inFlight, errors, admission] = await Promise.all([
    queueStatus(deps.tryonQueue),
    queueStatus(deps.webhookQueue),
    Promise.all(budgetKeys.map((key) => deps.limiter.usage(key))),
    new CreditBook(deps.records.redis, deps.config.prefix).byKey(budgetKeys),
    deps.operations.tasksInFlight(),
    deps.operations.recentFitroomErrors(20),
    new Admission(deps.records.redis, deps.config.prefix).stats(budgetKeys),
  ]);
  const budgets = usages.map((u, i) => ({
    budget_key: u.budgetKey,
    limit: u.limit,
    window_ms: u.windowMs,
    in_use: u.inUse,
    in_flight: u.inFlight,
    paused: u.pausedMs > 0,
    paused_ms: u.pausedMs,
    paused_reason: u.pausedReason,
    credits: credits[i]!,
  }));
  return {
    queues: { tryon, webhooks },
    budgets,
    paused_keys: budgets
      .filter((b) => b.paused)
      .map((b) => ({
        budget_key: b.budget_key,
        reason: b.paused_reason,
        resumes_in_ms: b.paused_ms,
      })),
    try_on: tryOnState(usages),
    admission: { waiting: admission.parked, admitted: admission.inFlight },
    fitroom: { tasks_in_flight: inFlight, recent_errors: errors },
    generated_at: new Date().toISOString(),
  };
}

/** /admin: the operator's view. The onRequest hook of this scope checks ADMIN_TOKEN. */
export const adminRoutes: FastifyPluginCallbackTypebox<RouteDeps> = (app, deps, done) => {
  app.get(
    '/status',
    {
      schema: {
        tags: ['admin'],
        summary: 'Queues, FitRoom budget per key, tasks in flight, recent FitRoom errors',
        description: 'Needs Authorization: Bearer <ADMIN_TOKEN>. Keys appear by budget name only.',
        response: { 200: AdminStatus, ...errorResponses(401) },
      },
    },
    async () => adminStatus(deps),
  );

  /** Any tenant's batch, for operators. */
  const anyBatch = async (id: string) => {
    const batch = await deps.records.getBatch(id);
    if (!batch) throw batchNotFound();
    return batch;
  };

  app.get(
    '/batches/:id/deliveries',
    {
      schema: {
        tags: ['admin'],
        summary: "Any batch's webhook delivery attempts, newest first",
        description: 'As GET /v1/batches/{id}/deliveries, for a batch of any tenant.',
        params: IdParams,
        querystring: DeliveriesQuery,
        response: { 200: DeliveryList, ...errorResponses(400, 401, 404) },
      },
    },
    async (request) => {
      const batch = await anyBatch(request.params.id);
      return { deliveries: await deps.operations.deliveries(batch.id, request.query.limit ?? 100) };
    },
  );

  app.post(
    '/batches/:id/webhooks/replay',
    {
      schema: {
        tags: ['admin'],
        summary: "Deliver any batch's webhook events again",
        description: `${REPLAY_DESCRIPTION} For a batch of any tenant, signed with that tenant's secret; no cooldown.`,
        params: IdParams,
        response: { 202: ReplayAnswer, ...errorResponses(400, 401, 404, 409, 413) },
      },
    },
    async (request, reply) => {
      const batch = await anyBatch(request.params.id);
      const result = await deps.replayer.replay(batch, {
        cooldownMs: 0,
        countAgainstTenant: false,
      });
      request.log.info(result, 'webhook events replayed by an operator');
      return reply.status(202).send(result);
    },
  );
  done();
};
