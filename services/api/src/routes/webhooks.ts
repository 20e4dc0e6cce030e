import type { FastifyPluginCallbackTypebox } from '@fastify/type-provider-typebox';
import { tenantSigningSecret } from '@tryon/webhooks';
import { tenantOf } from '../auth.js';
import type { RouteDeps } from '../deps.js';
import {
  REPLAY_BUDGET_WINDOW_MS,
  REPLAY_COOLDOWN_MS,
  REPLAY_EVENTS_PER_WINDOW,
} from '../limits.js';
import {
  DeliveriesQuery,
  DeliveryList,
  errorResponses,
  IdParams,
  ReplayAnswer,
  WebhookSecret,
} from '../schemas.js';

export const REPLAY_DESCRIPTION =
  'Queues every event of the batch again, from its current state: item.completed or ' +
  'item.failed for each finished item (data: the item as it is now) and batch.completed when ' +
  'the batch is finished. Each carries the same webhook-id as the original event, so a ' +
  'receiver that deduplicates sees nothing new. 202 with the number of events queued; 409 ' +
  'no_webhook_url when the batch has no webhook_url.';

export const webhookRoutes: FastifyPluginCallbackTypebox<RouteDeps> = (app, deps, done) => {
  app.get(
    '/webhooks/secret',
    {
      schema: {
        tags: ['webhooks'],
        summary: "This tenant's webhook signing secret",
        description: 'Verify deliveries with any Standard Webhooks library and this secret.',
        response: { 200: WebhookSecret, ...errorResponses(401) },
      },
    },
    async (request, reply) => {
      const master = deps.config.webhooks.secret ?? (await deps.operations.devWebhookSecret());
      void reply.header('cache-control', 'no-store');
      return { secret: tenantSigningSecret(master, tenantOf(request).id) };
    },
  );

  app.get(
    '/batches/:id/deliveries',
    {
      schema: {
        tags: ['webhooks'],
        summary: "The batch's webhook delivery attempts, newest first",
        description:
          'Every attempt the workers made to deliver an event of this batch (retries and ' +
          'replays included): when, which event (event_id is the webhook-id), the attempt ' +
          "number, the receiver's status or the error, and how long it took.",
        params: IdParams,
        querystring: DeliveriesQuery,
        response: { 200: DeliveryList, ...errorResponses(400, 401, 404) },
      },
    },
    async (request) => {
      const batch = await deps.batches.get(tenantOf(request).id, request.params.id);
      return { deliveries: await deps.operations.deliveries(batch.id, request.query.limit ?? 100) };
    },
  );

  app.post(
    '/batches/:id/webhooks/replay',
    {
      schema: {
        tags: ['webhooks'],
        summary: "Deliver the batch's webhook events again",
        description:
          `${REPLAY_DESCRIPTION} At most once per ${REPLAY_COOLDOWN_MS / 1000} s per batch ` +
          `(429 replay_too_soon with Retry-After), and at most ${REPLAY_EVENTS_PER_WINDOW} ` +
          `events per ${REPLAY_BUDGET_WINDOW_MS / 60_000} minutes per tenant (429 ` +
          'replay_limit with Retry-After). Replayed events are delivered after live ones.',
        params: IdParams,
        response: { 202: ReplayAnswer, ...errorResponses(400, 401, 404, 409, 413, 429) },
      },
    },
    async (request, reply) => {
      const batch = await deps.batches.get(tenantOf(request).id, request.params.id);
      const result = await deps.replayer.replay(batch, {
        cooldownMs: REPLAY_COOLDOWN_MS,
        countAgainstTenant: true,
      });
      request.log.info(result, 'webhook events replayed');
      return reply.status(202).send(result);
    },
  );
  done();
};
