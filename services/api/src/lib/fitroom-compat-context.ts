import type { FastifyBaseLogger, FastifyReply, FastifyRequest } from 'fastify';
import type { RouteDeps } from '../deps.js';
import { FITROOM_FORM_MAX_FIELDS, FITROOM_FORM_MAX_FILES } from '../limits.js';
import { FitRoomHttpError } from './fitroom-errors.js';
import { ResultUrlSigner } from './fitroom-tasks.js';
import { InputChecker } from './input-checks.js';
import { receiveForm } from './uploads.js';

/** What the FitRoom-compatible routes share: tenant by X-API-KEY, its limit, forms, signer. */
export class FitRoomCompatContext {
  readonly checker: InputChecker;
  private signer: Promise<ResultUrlSigner> | null = null;

  constructor(
    private readonly deps: RouteDeps,
    log: FastifyBaseLogger,
  ) {
    const { config } = deps;
    this.checker = new InputChecker({
      baseUrl: config.fitroom.baseUrl,
      apiKeys: config.fitroom.apiKeys,
      redis: deps.redis,
      prefix: config.prefix,
      limiter: deps.limiter,
      operations: deps.operations,
      timeoutMs: config.fitroom.timeoutMs,
      log,
    });
  }

  /** The signer of result links, keyed by the webhook secret (made once, retried if Redis was down). */
  resultSigner(): Promise<ResultUrlSigner> {
    if (!this.signer) {
      const signer = (async () =>
        new ResultUrlSigner(
          this.deps.config.webhooks.secret ?? (await this.deps.operations.devWebhookSecret()),
        ))();
      signer.catch(() => {
        this.signer = null;
      });
      this.signer = signer;
    }
    return this.signer;
  }

  tenantByApiKey = async (request: FastifyRequest, _reply: FastifyReply): Promise<void> => {
    const header = request.headers['x-api-key'];
    const tenant = this.deps.auth.tenantForToken(
      typeof header === 'string' && header !== '' ? header : null,
    );
    if (!tenant) throw new FitRoomHttpError(401);
    request.tenant = tenant;
  };

  /** The per-tenant request limit, answered as FitRoom answers its own: 429 with Retry-After. */
  async limitTenant(request: FastifyRequest, tenantId: string): Promise<void> {
    const verdict = await this.deps.tenantLimit.take(tenantId, request.log);
    if (verdict.allowed) return;
    this.deps.metrics.rateLimited.inc({ api: 'fitroom' });
    throw new FitRoomHttpError(429, undefined, verdict.retryAfterSeconds);
  }

  readForm(request: FastifyRequest, dir: string, files: ReadonlySet<string>) {
    return receiveForm(request, dir, {
      maxBytes: this.deps.config.api.uploadMaxBytes,
      maxFiles: FITROOM_FORM_MAX_FILES,
      maxFields: FITROOM_FORM_MAX_FIELDS,
      textFields: 'collect',
      keepFile: (field) => files.has(field),
    });
  }
}
