import type { FastifyPluginCallbackTypebox } from '@fastify/type-provider-typebox';
import { AssetList } from '@tryon/domain';
import { tenantOf } from '../auth.js';
import type { RouteDeps } from '../deps.js';
import { receiveAssets } from '../lib/uploads.js';
import { MAX_IMAGE_PIXELS, MAX_UPLOAD_FILES } from '../limits.js';
import { errorResponses, UploadBody } from '../schemas.js';

export const assetRoutes: FastifyPluginCallbackTypebox<RouteDeps> = (app, deps, done) => {
  app.post(
    '/assets',
    {
      schema: {
        tags: ['assets'],
        summary: 'Upload images',
        description:
          `Multipart upload of up to ${MAX_UPLOAD_FILES} JPEG, PNG or WebP images (each at most ` +
          `${deps.config.api.uploadMaxBytes} bytes and ${MAX_IMAGE_PIXELS} pixels), one file field ` +
          'each. Answers one asset per file, in order. The same bytes give the same asset: 201 when ' +
          'any file was new to this tenant, 200 when all were known. More files than that in one ' +
          `request: 400 too_many_files (send at most ${MAX_UPLOAD_FILES} per request). An error ` +
          'names the file field and the file name it came with.',
        consumes: ['multipart/form-data'],
        body: UploadBody,
        response: {
          200: AssetList,
          201: AssetList,
          ...errorResponses(400, 401, 413, 415, 422),
        },
      },
      // The body is streamed by the handler; the schema above only documents it.
      validatorCompiler: () => () => true,
    },
    async (request, reply) => {
      const { assets, created } = await receiveAssets(request, {
        storage: deps.storage,
        records: deps.records,
        maxBytes: deps.config.api.uploadMaxBytes,
        tenantId: tenantOf(request).id,
      });
      return reply.status(created ? 201 : 200).send({ assets });
    },
  );
  done();
};
