import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance } from 'fastify';
import packageJson from '../package.json' with { type: 'json' };
import { FITROOM_TAG } from './fitroom-schemas.js';

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
          'answers `{ "error": { "code", "message" } }`, except on the FitRoom-compatible ' +
          'routes, which answer as FitRoom does.',
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
          fitroomApiKey: {
            type: 'apiKey',
            in: 'header',
            name: 'X-API-KEY',
            description: 'A tenant token from API_TOKENS, in place of a FitRoom API key',
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
        {
          name: FITROOM_TAG,
          description:
            "FitRoom's API (same routes, fields and answers, errors in FitRoom's shape " +
            '`{ "error", "message" }`) over the queue: existing FitRoom code changes its base URL ' +
            'and sends a tenant token as X-API-KEY.',
        },
      ],
    },
  });
  void app.register(swaggerUi, { routePrefix: '/docs' });
}
