import { TypeCompiler } from '@sinclair/typebox/compiler';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { CreateBatchRequest } from '@tryon/domain';
import { ApiError, describeError } from '../../errors.js';
import { receiveAssets } from '../../lib/uploads.js';
import { BATCH_BODY_LIMIT_BYTES } from '../../limits.js';
import { NEW_BATCH_JS_URL } from '../assets.js';
import { queryValue, type UiContext } from '../context.js';
import { html, type SafeHtml } from '../html.js';

/**
 * /ui/new: a batch from the browser. The page's script (new-batch.js) takes folders or files of
 * models and garment groups (each group its cloth type and HD), uploads them one file per
 * request (so one bad file is named and the rest go on), shows the dry run, and submits. The
 * JSON routes here answer errors as the API does, `{ error: { code, message } }`.
 */

const checkBatch = TypeCompiler.Compile(CreateBatchRequest);

const dropZone = (target: string) =>
  html`<div class="drop" data-drop="${target}">
    Drop folders or images here, or
    <label class="button"
      >pick images
      <input type="file" multiple accept="image/jpeg,image/png,image/webp" data-files="${target}"
    /></label>
    <label class="button"
      >pick a folder <input type="file" webkitdirectory data-files="${target}"
    /></label>
    <ul class="files" data-list="${target}"></ul>
  </div>`;

function newBatchPage(): SafeHtml {
  return html`<h1>New batch</h1>
    <div class="new-batch" data-new-batch>
      <section class="panel">
        <h2>Models</h2>
        ${dropZone('models')}
      </section>
      <section class="panel">
        <h2>Garments</h2>
        <div data-groups>
          <fieldset class="group" data-group>
            <legend>Garment group</legend>
            <label
              >Cloth type
              <select data-field="cloth-type">
                <option value="upper">upper</option>
                <option value="lower">lower</option>
                <option value="full_set">full_set</option>
              </select></label
            >
            <label><input type="checkbox" data-field="hd" /> HD</label>
            ${dropZone('garments')}
          </fieldset>
        </div>
        <button type="button" data-action="add-group">Add a garment group</button>
      </section>
      <div class="actions">
        <button type="button" class="primary" data-action="dry-run">
          Check: items, credits, ETA
        </button>
        <button type="button" class="primary" data-action="submit" hidden>Start the batch</button>
      </div>
      <progress data-field="upload-progress" value="0" max="1" hidden></progress>
      <p class="muted" role="status" data-field="new-status"></p>
      <ul class="error" data-field="upload-failures"></ul>
      <dl class="dry-run" data-field="dry-run" hidden>
        <div>
          <dt>items</dt>
          <dd data-field="dry-items"></dd>
        </div>
        <div>
          <dt>credits</dt>
          <dd data-field="dry-credits"></dd>
        </div>
        <div>
          <dt>cached</dt>
          <dd data-field="dry-cached"></dd>
        </div>
        <div>
          <dt>ETA</dt>
          <dd data-field="dry-eta"></dd>
        </div>
      </dl>
    </div>
    <script src="${NEW_BATCH_JS_URL}" defer></script>`;
}

/** A JSON route's answer, its errors as the API's error shape. */
async function answerJson(
  request: FastifyRequest,
  reply: FastifyReply,
  work: () => Promise<{ status: number; body: unknown }>,
) {
  try {
    const { status, body } = await work();
    return reply.status(status).header('cache-control', 'no-store').send(body);
  } catch (error) {
    const answer = describeError(error);
    if (answer.status >= 500) request.log.error({ err: error }, 'new batch request failed');
    return reply
      .status(answer.status)
      .send({ error: { code: answer.code, message: answer.message } });
  }
}

export function registerNewBatchPage(app: FastifyInstance, ui: UiContext): void {
  app.get('/new', async (request, reply) => {
    ui.tenantOf(request);
    return ui.sendPage(request, reply, { title: 'New batch', body: newBatchPage() });
  });

  app.post('/assets', async (request, reply) => {
    const tenant = ui.tenantOf(request);
    return answerJson(request, reply, async () => {
      const { assets, created } = await receiveAssets(request, {
        storage: ui.deps.storage,
        records: ui.deps.records,
        maxBytes: ui.deps.config.api.uploadMaxBytes,
        tenantId: tenant.id,
      });
      return { status: created ? 201 : 200, body: { assets } };
    });
  });

  app.post('/batches', { bodyLimit: BATCH_BODY_LIMIT_BYTES }, async (request, reply) => {
    const tenant = ui.tenantOf(request);
    const { batches, eta } = ui.deps;
    return answerJson(request, reply, async () => {
      const body = request.body;
      if (!checkBatch.Check(body)) {
        const first = [...checkBatch.Errors(body)][0];
        throw new ApiError(
          400,
          'validation_error',
          `body${first?.path ?? ''} ${first?.message ?? 'is invalid'}`,
        );
      }
      if (queryValue(request.query, 'dry_run') === 'true') {
        const { items, cached } = await batches.preview(tenant.id, body);
        const at = await eta.forNewBatch({
          tenantId: tenant.id,
          priority: body.priority ?? 0,
          items: items.length,
          hd: items[0]?.hd_mode ?? false,
        });
        const answer = {
          dry_run: true,
          items: items.length,
          credits: items.length - cached,
          cached,
          eta: at,
        };
        return { status: 200, body: answer };
      }
      const { batch, created } = await batches.submit(tenant.id, body);
      request.log.info({ batchId: batch.id }, 'batch submitted from the dashboard');
      return { status: created ? 202 : 200, body: await eta.view(batch) };
    });
  });
}
