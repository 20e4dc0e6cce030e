import type { FastifyBaseLogger, FastifyReply, FastifyRequest } from 'fastify';
import type { RouteDeps } from '../deps.js';
import { FITROOM_FORM_MAX_FIELDS, FITROOM_FORM_MAX_FILES } from '../limits.js';
import { FitRoomHttpError } from './fitroom-errors.js';
import type { ItemRecord } from '@tryon/records';
import { tryonJobId } from '@tryon/queues';
import { ResultUrlSigner, type TaskViewInput } from './fitroom-tasks.js';
import { CREDIT_PAUSE, InputChecker } from './input-checks.js';
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
      rateLimit: config.fitroom.rateLimit,
      rateWindowMs: config.fitroom.rateWindowMs,
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

  /**
   * What FitRoom would answer a create while no key of this service can create: 402 when the
   * keys are paused because FitRoom said "no credit" (401 when every one was said to be wrong),
   * so a client tells its user at once instead of waiting for a task that cannot start. Null
   * while any key can create, or waits only for the rate window (that is the queue's job).
   */
  async keysRefusal(): Promise<FitRoomHttpError | null> {
    const keys = this.checker.keys;
    if (keys.length === 0) return null;
    const usages = await Promise.all(keys.map((k) => this.deps.limiter.usage(k.budgetKey)));
    const reasons = usages.map((u) => (u.pausedMs > 0 ? u.pausedReason : null));
    if (reasons.every((r) => r === 'unauthorized')) return new FitRoomHttpError(401);
    const refused = (r: string | null) => r === CREDIT_PAUSE || r === 'unauthorized';
    return reasons.every(refused) ? new FitRoomHttpError(402) : null;
  }

  /**
   * What a task's status needs beyond its record: why a CREATED task waits (no credit), and
   * for a PROCESSING one re-created after FitRoom failed it, when its current FitRoom task
   * began (from the item's step job; a re-creation not yet sent counts as beginning now).
   */
  async taskProgressState(
    item: ItemRecord,
  ): Promise<Pick<TaskViewInput, 'waitingFor' | 'currentTaskFromMs'>> {
    if (item.status === 'queued') {
      const refusal = await this.keysRefusal();
      return refusal ? { waitingFor: waitingText(refusal.statusCode) } : {};
    }
    if (item.status !== 'running') return {};
    const job = await this.deps.tryonQueue.getJob(tryonJobId(item.id, item.run));
    const data = job?.data;
    if (!data || (data.failedTasks ?? 0) === 0) return {};
    if (data.step === 'poll' && data.taskCreatedAt !== undefined) {
      return { currentTaskFromMs: data.taskCreatedAt };
    }
    return { currentTaskFromMs: Date.now() };
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

const waitingText = (status: number): string =>
  status === 402
    ? "Waiting: FitRoom reports no credit left on this service's keys; the task starts when credit is added."
    : "Waiting: FitRoom refuses this service's keys; the task starts when an operator fixes them.";
