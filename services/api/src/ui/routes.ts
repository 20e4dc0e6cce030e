import formbody from '@fastify/formbody';
import type { FastifyPluginAsync } from 'fastify';
import type { RouteDeps } from '../deps.js';
import { registerAssets, UI_ASSETS_PATH } from './assets.js';
import { UiContext, type UiRoutes } from './context.js';
import { registerItemImages } from './item-images.js';
import { registerBatchPage } from './pages/batch.js';
import { registerBatchesPage } from './pages/batches.js';
import { registerErrorPages } from './pages/error.js';
import { registerLoginPage } from './pages/login.js';
import { registerNewBatchPage } from './pages/new-batch.js';
import { registerOperatorPage } from './pages/operator.js';
import { registerReviewPages } from './pages/review.js';
import { registerSecurity } from './security.js';
import { UiSession } from './session.js';
import { ThumbnailService } from './thumbs.js';

/**
 * The dashboard's pages, one file each in pages/ (its markup and its routes). A new page is a
 * new file there, exporting a register function, and one line here.
 */
const PAGES: UiRoutes[] = [
  registerLoginPage,
  registerBatchesPage,
  registerNewBatchPage,
  registerBatchPage,
  registerReviewPages,
  registerOperatorPage,
  registerItemImages,
];

/**
 * The dashboard under /ui: server-rendered pages over the same records and BatchService as the
 * API, scoped to the signed-in tenant; the operator page over what /admin/status computes.
 * Routes are hidden from the OpenAPI document (they answer HTML, not the API's JSON).
 */
export const uiRoutes: FastifyPluginAsync<RouteDeps> = async (app, deps) => {
  const session = new UiSession(deps.auth, deps.config);
  const thumbs = new ThumbnailService({
    config: deps.config,
    records: deps.records,
    storage: deps.storage,
    lookup: deps.lookup,
  });
  app.addHook('onClose', () => thumbs.close());
  const ui = new UiContext(deps, session, thumbs);

  app.addHook('onRoute', (route) => {
    route.schema = { ...route.schema, hide: true };
  });
  // Pages, fragments, streams and thumbnails cost the signed-in tenant's API budget like /v1:
  // a dashboard left refreshing (or a script posing as one) cannot outrun the limit.
  app.addHook('onRequest', async (request) => {
    if (request.url.startsWith(UI_ASSETS_PATH)) return;
    const tenant = session.tenant(request);
    if (!tenant) return;
    await deps.tenantLimit.enforce(tenant.id, request.log, () =>
      deps.metrics.rateLimited.inc({ api: 'ui' }),
    );
  });
  await app.register(formbody, { bodyLimit: 16 * 1024 });
  await registerSecurity(app, session);
  registerErrorPages(app, ui);
  await registerAssets(app);
  for (const register of PAGES) register(app, ui);
};
