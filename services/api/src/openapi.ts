import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance } from 'fastify';
import packageJson from '../package.json' with { type: 'json' };

/**
 * The OpenAPI document, generated from the route schemas (served at /docs/json), and Swagger UI
 * at /docs. Register before the routes so every route is in the document.
 */
export function registerOpenApi(app: FastifyInstance, publicUrl: string): void {
  void app.register(swagger, {
    // Shared schemas appear under their own names (Batch, Item, Asset) instead of def-N.
    refResolver: {
      buildLocalReference: (json, _baseUri, _fragment, i) =>
        typeof json.$id === 'string' ? json.$id : `def-${i}`,
    },
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'Try-on batch API',
        description:
          "Batches of virtual try-ons over FitRoom's API: upload images, submit batches of " +
          'model x garment pairs, follow their progress, fetch results. Every 4xx and 5xx ' +
          'answers `{ "error": { "code", "message" } }`.',
        version: packageJson.version,
      },
      servers: [{ url: publicUrl }],
      components: {
        securitySchemes: {
          bearerAuth: {
            type: 'http',
            scheme: 'bearer',
            description: 'A tenant token from API_TOKENS (ADMIN_TOKEN for /admin)',
          },
        },
      },
      security: [{ bearerAuth: [] }],
      tags: [
        { name: 'assets', description: 'Uploaded images' },
        { name: 'batches', description: 'Batches of try-ons' },
        { name: 'items', description: 'One try-on and its result' },
        { name: 'webhooks', description: 'Signed event delivery' },
        { name: 'admin', description: 'Operator status (ADMIN_TOKEN)' },
        { name: 'ops', description: 'Health, readiness, metrics' },
      ],
    },
  });
  void app.register(swaggerUi, { routePrefix: '/docs' });
}
