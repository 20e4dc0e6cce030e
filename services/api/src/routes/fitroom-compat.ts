import type { Readable } from 'node:stream';
import type {
  FastifyPluginCallbackTypebox,
  TypeBoxTypeProvider,
} from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { FastifyRequest } from 'fastify';
import { tenantOf } from '../auth.js';
import type { RouteDeps } from '../deps.js';
import {
  ClothesCheckAnswer,
  CreateTaskAnswer,
  CreateTaskForm,
  FITROOM_TAG,
  fitroomErrors,
  InputCheckForm,
  ModelCheckAnswer,
  ResultParams,
  ResultQuery,
  TaskAnswer,
  TaskParams,
} from '../fitroom-schemas.js';
import { FitRoomCompatContext } from '../lib/fitroom-compat-context.js';
import {
  checkUploaded,
  CREATE_FILES,
  createFormItem,
  FITROOM_IMAGES,
  requiredFile,
  toWebImage,
} from '../lib/fitroom-create-form.js';
import {
  fitroomBadRequest,
  fitroomErrorHandler,
  FitRoomHttpError,
  fitroomNotFoundHandler,
} from '../lib/fitroom-errors.js';
import { FITROOM_COMPAT_SOURCE, isItemId, taskView } from '../lib/fitroom-tasks.js';
import type { InputCheckImage } from '../lib/input-checks.js';
import { publicOrigin } from '../lib/public-origin.js';
import { sendResult } from '../lib/result-download.js';
import { withUploadDir } from '../lib/uploads.js';
import { MAX_IMAGE_PIXELS } from '../limits.js';

const SECURITY = [{ fitroomApiKey: [] }];
const NOT_MULTIPART = 'the body must be multipart/form-data.';

type CompatApp = Parameters<FastifyPluginCallbackTypebox<RouteDeps>>[0];

/**
 * FitRoom's API over the queue: an existing FitRoom client gains batching, the shared budget,
 * durable results and retries by changing its base URL. `X-API-KEY` is a tenant token; every
 * answer, errors included, has FitRoom's shape and status codes. Registered under /api/tryon.
 */
export const fitroomCompatRoutes: FastifyPluginCallbackTypebox<RouteDeps> = (app, deps, done) => {
  app.setErrorHandler(fitroomErrorHandler);
  app.setNotFoundHandler(fitroomNotFoundHandler);
  const ctx = new FitRoomCompatContext(deps, app.log);
  registerResultRoute(app, deps, ctx);
  void app.register((scope, _options, registered) => {
    const api = scope.withTypeProvider<TypeBoxTypeProvider>();
    api.addHook('onRequest', ctx.tenantByApiKey);
    api.addHook('onRequest', (request) => ctx.limitTenant(request, tenantOf(request).id));
    registerTaskRoutes(api, deps, ctx);
    registerInputCheckRoutes(api, ctx);
    registered();
  });
  done();
};

function registerResultRoute(app: CompatApp, deps: RouteDeps, ctx: FitRoomCompatContext): void {
  const { config, records, storage } = deps;
  // The result links of completed tasks carry their own signature: no X-API-KEY, like FitRoom's,
  // and, like its plain signed storage URLs, they count against no request limit (an <img src>
  // must not break because the tenant polled a lot).
  app.get(
    '/v2/results/:id',
    {
      schema: {
        tags: [FITROOM_TAG],
        summary: 'A result image, by the download_signed_url of a completed task',
        description:
          'Needs no header: the link is signed and expires after RESULT_URL_TTL_S ' +
          `(${config.api.resultUrlTtlSeconds} s here); not counted against any request limit. ` +
          'Served as a storage server serves it: ETag (the sha256), 304 for If-None-Match, one ' +
          'byte range as 206 (416 when unsatisfiable). 403 when expired or not signed by this service.',
        security: [],
        params: ResultParams,
        querystring: ResultQuery,
        produces: ['image/jpeg', 'image/png', 'image/webp'],
        response: {
          200: Type.Unsafe<Readable>({
            type: 'string',
            format: 'binary',
            description: 'The image',
          }),
          206: Type.Unsafe<Readable>({
            type: 'string',
            format: 'binary',
            description: 'The requested byte range of the image',
          }),
          ...fitroomErrors(403, 404),
        },
      },
    },
    async (request, reply) => {
      const { id } = request.params;
      const nowMs = Date.now();
      const verdict = (await ctx.resultSigner()).verify(
        id,
        request.query.expires,
        request.query.signature,
        nowMs,
      );
      if (verdict === 'bad-signature') {
        throw new FitRoomHttpError(403, 'The download signature is invalid.');
      }
      if (verdict === 'expired') throw new FitRoomHttpError(403, 'The download link has expired.');
      const item = await records.getItem(id);
      const result = item?.status === 'completed' ? item.result : null;
      if (!item || !result) throw new FitRoomHttpError(404, 'No such result.');
      const sent = await sendResult(request, reply, {
        sha256: result.sha256,
        bytes: result.bytes,
        contentType: result.content_type,
        maxAgeSeconds: Number(request.query.expires) - Math.floor(nowMs / 1000),
        load: () => storage.get(result.key),
      });
      if (sent) return reply;
      request.log.warn({ itemId: item.id }, 'result object missing from storage');
      throw new FitRoomHttpError(404, 'No such result.');
    },
  );
}

const createDescription = (maxBytes: number): string =>
  "FitRoom's create, queued: the images become this tenant's assets (content-addressed, " +
  'as POST /v1/assets) and a one-item batch is queued; task_id is its item id. Images: ' +
  `${FITROOM_IMAGES.names} (converted to JPEG for FitRoom), at most ${maxBytes} bytes and ` +
  `${MAX_IMAGE_PIXELS} pixels each; anything else is a 400 naming the field. 402 (or 401) ` +
  'as FitRoom answers them while every FitRoom key of this service is paused because FitRoom ' +
  'said it has no credit (or is wrong): the task could not start.';

function registerTaskRoutes(api: CompatApp, deps: RouteDeps, ctx: FitRoomCompatContext): void {
  const { config, records } = deps;
  api.post(
    '/v2/tasks',
    {
      schema: {
        tags: [FITROOM_TAG],
        summary: 'Create Try-on Task',
        description: createDescription(config.api.uploadMaxBytes),
        security: SECURITY,
        consumes: ['multipart/form-data'],
        body: CreateTaskForm,
        response: { 200: CreateTaskAnswer, ...fitroomErrors(400, 401, 402, 413, 429, 500) },
      },
      // The body is streamed by the handler; the schema above only documents it.
      validatorCompiler: () => () => true,
    },
    async (request) => {
      if (!request.isMultipart()) throw fitroomBadRequest(NOT_MULTIPART);
      const tenantId = tenantOf(request).id;
      const item = await withUploadDir(async (dir) => {
        const form = await ctx.readForm(request, dir, CREATE_FILES);
        // FitRoom checks the form first, then the credit (as the simulator does).
        const refusal = await ctx.keysRefusal();
        const checked = await createFormItem(form, deps, tenantId);
        if (refusal) throw refusal;
        return checked;
      });
      const { batch } = await deps.batches.submit(tenantId, {
        items: [item],
        metadata: { source: FITROOM_COMPAT_SOURCE },
      });
      const [itemId] = await records.itemIds(batch.id);
      if (!itemId) throw new Error(`batch ${batch.id} has no item`);
      return { task_id: itemId, status: 'CREATED' as const };
    },
  );

  api.get(
    '/v2/tasks/:id',
    {
      schema: {
        tags: [FITROOM_TAG],
        summary: 'Get Task Status',
        description:
          'queued -> CREATED (progress 0), running -> PROCESSING (progress estimated from the ' +
          'time since it started and the expected duration of its mode), completed -> ' +
          'COMPLETED with download_signed_url, failed or cancelled -> FAILED with error. ' +
          "Times are unix seconds. Another tenant's task is a 404, as an unknown one.",
        security: SECURITY,
        params: TaskParams,
        response: { 200: TaskAnswer, ...fitroomErrors(401, 404, 429, 500) },
      },
    },
    async (request, reply) => {
      const { id } = request.params;
      const item = isItemId(id) ? await records.getItem(id, tenantOf(request).id) : null;
      if (!item) throw new FitRoomHttpError(404, `Task ${id.slice(0, 100)} not found.`);
      const signed = item.status === 'completed' ? await ctx.resultSigner() : null;
      const nowMs = Date.now();
      void reply.header('cache-control', 'no-store');
      return taskView({
        item,
        nowMs,
        expectedMs: item.hd_mode ? config.fitroom.hdTaskMs : config.fitroom.normalTaskMs,
        ...(await ctx.taskProgressState(item)),
        downloadUrl: () =>
          signed!.url(
            publicOrigin(config, request),
            item.id,
            Math.floor(nowMs / 1000) + config.api.resultUrlTtlSeconds,
          ),
      });
    },
  );
}

function registerInputCheckRoutes(api: CompatApp, ctx: FitRoomCompatContext): void {
  /** The checked input_image of an input check, handed to `check` while its temp file exists. */
  const withInputImage = async <T>(
    request: FastifyRequest,
    check: (image: InputCheckImage) => Promise<T>,
  ): Promise<T> => {
    if (!ctx.checker.configured) {
      throw new FitRoomHttpError(
        503,
        'No FitRoom API key is configured (FITROOM_API_KEYS is empty): input checks are ' +
          'answered by FitRoom, so this service cannot answer them.',
      );
    }
    if (!request.isMultipart()) throw fitroomBadRequest(NOT_MULTIPART);
    return withUploadDir(async (dir) => {
      const form = await ctx.readForm(request, dir, new Set(['input_image']));
      const image = await checkUploaded(requiredFile(form, 'input_image'));
      // Answers are kept by the sha256 of the bytes sent, whatever FitRoom was shown.
      return check({ ...(await toWebImage(image)), sha256: image.sha256 });
    });
  };
  const checkDescription =
    "Forwarded to FitRoom through this service's FitRoom keys, within their shared budget; " +
    "FitRoom's answer unchanged. Answers are kept 30 days by the image's sha256: the same " +
    'image is sent to FitRoom once, whoever asks. Checks cost FitRoom no credit, so they go on ' +
    "while the keys are out of credit. 429 only for the tenant's own request limit; 503 with " +
    "Retry-After when the service's FitRoom budget cannot take the check now, or no FitRoom " +
    'key is configured.';

  api.post(
    '/input_check/v1/model',
    {
      schema: {
        tags: [FITROOM_TAG],
        summary: 'Check Model Image',
        description: checkDescription,
        security: SECURITY,
        consumes: ['multipart/form-data'],
        body: InputCheckForm,
        response: { 200: ModelCheckAnswer, ...fitroomErrors(400, 401, 413, 429, 500, 503) },
      },
      validatorCompiler: () => () => true,
    },
    (request) => withInputImage(request, (image) => ctx.checker.checkModel(image)),
  );

  api.post(
    '/input_check/v1/clothes',
    {
      schema: {
        tags: [FITROOM_TAG],
        summary: 'Check Clothes Image',
        description: checkDescription,
        security: SECURITY,
        consumes: ['multipart/form-data'],
        body: InputCheckForm,
        response: { 200: ClothesCheckAnswer, ...fitroomErrors(400, 401, 413, 429, 500, 503) },
      },
      validatorCompiler: () => () => true,
    },
    (request) => withInputImage(request, (image) => ctx.checker.checkClothes(image)),
  );
}
