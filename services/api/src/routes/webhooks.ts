import type { FastifyPluginCallbackTypebox } from '@fastify/type-provider-typebox';
import { tenantSigningSecret } from '@tryon/webhooks';
import { tenantOf } from '../auth.js';
import type { RouteDeps } from '../deps.js';
import { errorResponses, WebhookSecret } from '../schemas.js';

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
  done();
};
