import type { Readable } from 'node:stream';
import type {
  FastifyPluginCallbackTypebox,
  TypeBoxTypeProvider,
} from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ClothType } from '@tryon/domain';
import { tenantOf } from '../auth.js';
import type { RouteDeps } from '../deps.js';
import { ApiError } from '../errors.js';
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
import {
  fitroomBadRequest,
  fitroomErrorHandler,
  FitRoomHttpError,
  fitroomNotFoundHandler,
} from '../lib/fitroom-errors.js';
import {
  FITROOM_COMPAT_SOURCE,
  isItemId,
  ResultUrlSigner,
  taskView,
} from '../lib/fitroom-tasks.js';
import { InputChecker, type InputCheckImage } from '../lib/input-checks.js';
import {
  checkImage,
  receiveForm,
  storeAsset,
  withUploadDir,
  type CheckedFile,
  type ReceivedFile,
  type ReceivedForm,
} from '../lib/uploads.js';
import { FITROOM_FORM_MAX_FIELDS, FITROOM_FORM_MAX_FILES, MAX_IMAGE_PIXELS } from '../limits.js';

const CLOTH_TYPES: readonly ClothType[] = ['upper', 'lower', 'full_set', 'combo'];
const CREATE_FILES = new Set(['model_image', 'cloth_image', 'lower_cloth_image']);
const SECURITY = [{ fitroomApiKey: [] }];
const NOT_MULTIPART = 'the body must be multipart/form-data.';

/** A file field FitRoom requires, or the 400 FitRoom answers without it. */
function required(form: ReceivedForm, field: string): ReceivedFile {
  const file = form.files.find((f) => f.field === field);
  if (file) return file;
  throw fitroomBadRequest(
    form.textFieldNames.has(field) ? `${field} must be a file.` : `${field} is required.`,
  );
}

/** The upload checks of POST /v1/assets, answered as FitRoom answers an undecodable image: 400. */
async function checkUploaded(file: ReceivedFile): Promise<CheckedFile> {
  try {
    return await checkImage(file);
  } catch (error) {
    if (error instanceof ApiError) throw fitroomBadRequest(`${error.message}.`);
    throw error;
  }
}

/**
 * FitRoom's API over the queue: an existing FitRoom client gains batching, the shared budget,
 * durable results and retries by changing its base URL. `X-API-KEY` is a tenant token; every
 * answer, errors included, has FitRoom's shape and status codes. Registered under /api/tryon.
 */
export const fitroomCompatRoutes: FastifyPluginCallbackTypebox<RouteDeps> = (app, deps, done) => {
  const { config, records, storage, auth } = deps;
  app.setErrorHandler(fitroomErrorHandler);
  app.setNotFoundHandler(fitroomNotFoundHandler);

  const checker = new InputChecker({
    baseUrl: config.fitroom.baseUrl,
    apiKeys: config.fitroom.apiKeys,
    redis: deps.redis,
    prefix: config.prefix,
    limiter: deps.limiter,
    operations: deps.operations,
    timeoutMs: config.fitroom.timeoutMs,
    log: app.log,
  });

  let signer: Promise<ResultUrlSigner> | null = null;
  const resultSigner = (): Promise<ResultUrlSigner> => {
    if (!signer) {
      signer = (async () =>
        new ResultUrlSigner(
          config.webhooks.secret ?? (await deps.operations.devWebhookSecret()),
        ))();
      signer.catch(() => {
        signer = null; // Redis was down: try again on the next request
      });
    }
    return signer;
  };

  const tenantByApiKey = async (request: FastifyRequest, _reply: FastifyReply): Promise<void> => {
    const header = request.headers['x-api-key'];
    const tenant = auth.tenantForToken(typeof header === 'string' && header !== '' ? header : null);
    if (!tenant) throw new FitRoomHttpError(401);
    request.tenant = tenant;
  };

  /** The per-tenant request limit, answered as FitRoom answers its own: 429 with Retry-After. */
  const limitTenant = async (request: FastifyRequest, tenantId: string): Promise<void> => {
    const verdict = await deps.tenantLimit.take(tenantId, request.log);
    if (verdict.allowed) return;
    deps.metrics.rateLimited.inc({ api: 'fitroom' });
    throw new FitRoomHttpError(429, undefined, verdict.retryAfterSeconds);
  };

  const readForm = (request: FastifyRequest, dir: string, files: ReadonlySet<string>) =>
    receiveForm(request, dir, {
      maxBytes: config.api.uploadMaxBytes,
      maxFiles: FITROOM_FORM_MAX_FILES,
      maxFields: FITROOM_FORM_MAX_FIELDS,
      textFields: 'collect',
      keepFile: (field) => files.has(field),
    });

  // The result links of completed tasks carry their own signature: no X-API-KEY, like FitRoom's.
  app.get(
    '/v2/results/:id',
    {
      schema: {
        tags: [FITROOM_TAG],
        summary: 'A result image, by the download_signed_url of a completed task',
        description:
          'Needs no header: the link is signed and expires after RESULT_URL_TTL_S ' +
          `(${config.api.resultUrlTtlSeconds} s here). 403 when expired or not signed by this service.`,
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
          ...fitroomErrors(403, 404, 429),
        },
      },
    },
    async (request, reply) => {
      const { id } = request.params;
      const verdict = (await resultSigner()).verify(
        id,
        request.query.expires,
        request.query.signature,
        Date.now(),
      );
      if (verdict === 'bad-signature') {
        throw new FitRoomHttpError(403, 'The download signature is invalid.');
      }
      if (verdict === 'expired') throw new FitRoomHttpError(403, 'The download link has expired.');
      const item = await records.getItem(id);
      if (!item || item.status !== 'completed' || !item.result) {
        throw new FitRoomHttpError(404, 'No such result.');
      }
      // The link names no tenant; its item's tenant pays for the download.
      await limitTenant(request, item.tenant_id);
      const object = await storage.get(item.result.key);
      if (!object) {
        request.log.warn({ itemId: item.id }, 'result object missing from storage');
        throw new FitRoomHttpError(404, 'No such result.');
      }
      return reply
        .type(item.result.content_type || object.contentType)
        .header('content-length', object.bytes)
        .header('cache-control', 'private, no-store')
        .header('x-content-type-options', 'nosniff')
        .send(object.body);
    },
  );

  void app.register((scope, _options, registered) => {
    const api = scope.withTypeProvider<TypeBoxTypeProvider>();
    api.addHook('onRequest', tenantByApiKey);
    api.addHook('onRequest', (request) => limitTenant(request, tenantOf(request).id));

    api.post(
      '/v2/tasks',
      {
        schema: {
          tags: [FITROOM_TAG],
          summary: 'Create Try-on Task',
          description:
            "FitRoom's create, queued: the images become this tenant's assets (content-addressed, " +
            'as POST /v1/assets) and a one-item batch is queued; task_id is its item id. Images: ' +
            `JPEG, PNG or WebP, at most ${config.api.uploadMaxBytes} bytes and ${MAX_IMAGE_PIXELS} ` +
            'pixels each; anything else is a 400 naming the field.',
          security: SECURITY,
          consumes: ['multipart/form-data'],
          body: CreateTaskForm,
          response: { 200: CreateTaskAnswer, ...fitroomErrors(400, 401, 413, 429, 500) },
        },
        // The body is streamed by the handler; the schema above only documents it.
        validatorCompiler: () => () => true,
      },
      async (request) => {
        if (!request.isMultipart()) throw fitroomBadRequest(NOT_MULTIPART);
        const tenantId = tenantOf(request).id;
        const item = await withUploadDir(async (dir) => {
          const form = await readForm(request, dir, CREATE_FILES);
          // FitRoom's order: the files, then cloth_type, combo's lower cloth, hd_mode, then bytes.
          const model = required(form, 'model_image');
          const cloth = required(form, 'cloth_image');
          const clothType = form.fields.get('cloth_type');
          if (clothType === undefined) throw fitroomBadRequest('cloth_type is required.');
          if (!(CLOTH_TYPES as readonly string[]).includes(clothType)) {
            throw fitroomBadRequest(`cloth_type must be one of ${CLOTH_TYPES.join(', ')}.`);
          }
          const lower =
            clothType === 'combo'
              ? form.files.find((f) => f.field === 'lower_cloth_image')
              : undefined;
          if (clothType === 'combo' && !lower) {
            throw fitroomBadRequest(
              form.textFieldNames.has('lower_cloth_image')
                ? 'lower_cloth_image must be a file.'
                : 'lower_cloth_image is required when cloth_type is combo.',
            );
          }
          const hdMode = form.fields.get('hd_mode');
          if (hdMode !== undefined && hdMode !== 'true' && hdMode !== 'false') {
            throw fitroomBadRequest('hd_mode must be "true" or "false".');
          }
          const checkedCloth = await checkUploaded(cloth);
          const checkedLower = lower ? await checkUploaded(lower) : undefined;
          const checkedModel = await checkUploaded(model);
          const store = async (file: CheckedFile) =>
            (await storeAsset(file, { storage, records, tenantId })).asset.id;
          return {
            model: await store(checkedModel),
            cloth: await store(checkedCloth),
            lower_cloth: checkedLower ? await store(checkedLower) : undefined,
            cloth_type: clothType as ClothType,
            hd_mode: hdMode === undefined ? undefined : hdMode === 'true',
          };
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
        const signed = item.status === 'completed' ? await resultSigner() : null;
        const nowMs = Date.now();
        void reply.header('cache-control', 'no-store');
        return taskView({
          item,
          nowMs,
          expectedMs: item.hd_mode ? config.fitroom.hdTaskMs : config.fitroom.normalTaskMs,
          downloadUrl: () =>
            signed!.url(
              config.publicUrl,
              item.id,
              Math.floor(nowMs / 1000) + config.api.resultUrlTtlSeconds,
            ),
        });
      },
    );

    /** The checked input_image of an input check, handed to `check` while its temp file exists. */
    const withInputImage = async <T>(
      request: FastifyRequest,
      check: (image: InputCheckImage) => Promise<T>,
    ): Promise<T> => {
      if (!checker.configured) {
        throw new FitRoomHttpError(
          503,
          'No FitRoom API key is configured (FITROOM_API_KEYS is empty): input checks are ' +
            'answered by FitRoom, so this service cannot answer them.',
        );
      }
      if (!request.isMultipart()) throw fitroomBadRequest(NOT_MULTIPART);
      return withUploadDir(async (dir) => {
        const form = await readForm(request, dir, new Set(['input_image']));
        const image = await checkUploaded(required(form, 'input_image'));
        return check({ path: image.path, sha256: image.sha256, contentType: image.contentType });
      });
    };
    const checkDescription =
      "Forwarded to FitRoom through this service's FitRoom keys, within their shared budget; " +
      "FitRoom's answer unchanged. Answers are kept 30 days by the image's sha256: the same " +
      'image is sent to FitRoom once, whoever asks. 429 with Retry-After when the budget is ' +
      'spent or paused; 503 when no FitRoom key is configured.';

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
      (request) => withInputImage(request, (image) => checker.checkModel(image)),
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
      (request) => withInputImage(request, (image) => checker.checkClothes(image)),
    );
    registered();
  });
  done();
};
