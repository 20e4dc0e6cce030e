import helmet from '@fastify/helmet';
import type { FastifyInstance } from 'fastify';
import { ApiError } from '../errors.js';
import type { UiSession } from './session.js';

/** Every dashboard answer: nothing inline, nothing from elsewhere, no framing. */
const CSP_DIRECTIVES = {
  defaultSrc: ["'none'"],
  scriptSrc: ["'self'"],
  styleSrc: ["'self'"],
  imgSrc: ["'self'"],
  connectSrc: ["'self'"],
  formAction: ["'self'"],
  baseUri: ["'none'"],
  frameAncestors: ["'none'"],
};

/**
 * The dashboard's security headers (CSP, nosniff, same-origin referrers, no framing) on every
 * /ui answer, errors and redirects included, and the CSRF guard for its form posts.
 * helmet's other defaults stay off: the dashboard has never sent them (HSTS in particular is
 * a deployment's choice, made at its TLS proxy).
 */
export async function registerSecurity(app: FastifyInstance, session: UiSession): Promise<void> {
  await app.register(helmet, {
    contentSecurityPolicy: { useDefaults: false, directives: CSP_DIRECTIVES },
    xContentTypeOptions: true,
    referrerPolicy: { policy: 'same-origin' },
    xFrameOptions: { action: 'deny' },
    crossOriginEmbedderPolicy: false,
    crossOriginOpenerPolicy: false,
    crossOriginResourcePolicy: false,
    originAgentCluster: false,
    strictTransportSecurity: false,
    xDnsPrefetchControl: false,
    xDownloadOptions: false,
    xPermittedCrossDomainPolicies: false,
    xPoweredBy: false,
    xXssProtection: false,
  });

  app.addHook('onRequest', (request, _reply, done) => {
    const safe = request.method === 'GET' || request.method === 'HEAD';
    done(
      safe || session.sameOrigin(request)
        ? undefined
        : new ApiError(403, 'forbidden', 'cross-site form posts are refused'),
    );
  });
}
