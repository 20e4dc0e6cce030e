import { VirtualClock } from './clock.js';
import { patchConfig, publicKnobs, type SimConfig } from './config.js';
import { HttpError, badRequest } from './errors.js';
import { ImageInspector, sha256hex } from './images.js';
import { clothesCheck, modelCheck } from './input-checks.js';
import type {
  ClothesCheckResult,
  ModelCheckResult,
  SimKeyStats,
  RouteName,
  SimOptions,
  SimStats,
  SimTaskPage,
  SimTaskQuery,
  SimTaskTimes,
} from './options.js';
import { seededRandom, type Random } from './random.js';
import { KeyState } from './key-state.js';
import { parseCreateFields } from './create-form.js';
import { FaultPicker, type CreateOutcome } from './faults.js';
import { ResultStore, resultKeyOf } from './render.js';
import { UrlSigner } from './signed-urls.js';
import { TaskStore, type Task, type TaskView } from './tasks.js';
import type { Form } from './multipart.js';

export type Admission =
  { ok: true } | { ok: false; status: 401 } | { ok: false; status: 429; retryAfterSeconds: number };

export const ROUTES = {
  create: 'POST /api/tryon/v2/tasks',
  poll: 'GET /api/tryon/v2/tasks/:id',
  checkModel: 'POST /api/tryon/input_check/v1/model',
  checkClothes: 'POST /api/tryon/input_check/v1/clothes',
} as const satisfies Record<RouteName, string>;

/** A create's answer and the fault to inject after its task was made, if any. */
export interface CreateResult {
  answer: { task_id: string; status: 'CREATED' };
  fault: CreateOutcome;
}

/** Largest page of GET /_sim/tasks. */
export const MAX_TASK_PAGE = 10_000;

/** The simulated FitRoom: keys, budget, tasks and results, independent of HTTP. */
export class Simulator {
  private config: SimConfig;
  readonly clock: VirtualClock;
  private readonly keys = new Map<string, KeyState>();
  private unauthorized = 0;
  private readonly downloads: Record<string, string> = {};
  readonly tasks: TaskStore;
  private readonly inspector = new ImageInspector();
  private readonly signer = new UrlSigner();
  private readonly faultRandom: Random;
  private readonly latencyRandom: Random;
  private readonly routeLatencyRandom: Random;
  private readonly faultPicker: FaultPicker;
  /** Fallback base URL for download links, set once listening. */
  baseUrl = '';

  constructor(
    config: SimConfig,
    readonly results: ResultStore,
    private readonly onRenderError: (error: unknown) => void,
  ) {
    this.config = config;
    this.clock = new VirtualClock(config.timeScale, config.now);
    for (const [key, credits] of Object.entries(config.keys))
      this.keys.set(key, new KeyState(credits));
    const idRandom = seededRandom(config.seed, 'task-ids');
    const firstId = config.firstTaskId ?? 100_000 + Math.floor(idRandom() * 800_000);
    this.tasks = new TaskStore(firstId, seededRandom(config.seed, 'tasks'));
    this.faultRandom = seededRandom(config.seed, 'faults');
    this.latencyRandom = seededRandom(config.seed, 'latency');
    this.routeLatencyRandom = seededRandom(config.seed, 'route-latency');
    this.faultPicker = new FaultPicker(seededRandom(config.seed, 'faults-after-create'));
  }

  get options(): Readonly<SimConfig> {
    return this.config;
  }

  configure(patch: Partial<SimOptions>): Record<string, unknown> {
    const next = patchConfig(this.config, patch);
    if (next.timeScale !== this.config.timeScale) this.clock.setScale(next.timeScale);
    for (const [key, credits] of Object.entries(patch.keys ?? {})) {
      const state = this.keys.get(key);
      if (state) state.credits = credits;
      else this.keys.set(key, new KeyState(credits));
    }
    this.config = next;
    return publicKnobs(next);
  }

  knobs(): Record<string, unknown> {
    return publicKnobs(this.config);
  }

  /**
   * Called when an API request arrives, before its body is read: authenticates it and counts
   * it against the key's rolling window.
   */
  admit(key: unknown): Admission {
    const state = typeof key === 'string' ? this.keys.get(key) : undefined;
    if (!state) {
      this.unauthorized++;
      return { ok: false, status: 401 };
    }
    const admission = state.window.arrive(
      this.clock.now(),
      this.config.rateLimit,
      this.config.rateWindowMs,
    );
    if (admission.accepted) return { ok: true };
    const realMs = this.clock.toReal(admission.retryAfterMs);
    return { ok: false, status: 429, retryAfterSeconds: Math.max(1, Math.ceil(realMs / 1000)) };
  }

  /** An injected failure for an admitted request, drawn by serverErrorRate / unavailableRate. */
  injectedFault(): 500 | 503 | undefined {
    const u = this.faultRandom();
    if (u < this.config.serverErrorRate) return 500;
    if (u < this.config.serverErrorRate + this.config.unavailableRate) return 503;
    return undefined;
  }

  /** A spurious 429 for an admitted request (retryAfterZero / retryAfterPast faults). */
  spurious429(): 'zero' | 'past' | undefined {
    return this.faultPicker.spurious429(this.config.faults);
  }

  /** Real milliseconds to wait before answering a request to `route` (a RouteName). */
  latency(route?: RouteName): number {
    const { min, max } = this.config.latencyMs;
    const real = max > 0 ? min + (max - min) * this.latencyRandom() : 0;
    const perRoute = route ? this.config.routeLatencyMs[route] : undefined;
    if (!perRoute || perRoute.max <= 0) return real;
    const virtual = perRoute.min + (perRoute.max - perRoute.min) * this.routeLatencyRandom();
    return real + this.clock.toReal(virtual);
  }

  /** Real milliseconds a late create waits before it answers. */
  lateCreateDelay(): number {
    return this.clock.toReal(this.config.faults.lateCreateMs);
  }

  /** Counts an answered API request of an authenticated key ('reset': no answer at all). */
  record(key: string, route: string, status: number | 'reset'): void {
    const state = this.keys.get(key);
    if (!state) return;
    const byStatus = (state.requests[route] ??= {});
    byStatus[String(status)] = (byStatus[String(status)] ?? 0) + 1;
    state.total++;
    if (status === 429) state.http429++;
    if (status === 200 && route === ROUTES.create) state.creates++;
    if (status === 200 && route === ROUTES.poll) state.polls++;
  }

  private async image(form: Form, field: string): Promise<{ data: Buffer; sha: string }> {
    const data = form.files.get(field);
    if (!data) {
      throw badRequest(
        form.fields.has(field) ? `${field} must be a file.` : `${field} is required.`,
      );
    }
    const sha = sha256hex(data);
    if (!(await this.inspector.inspect(data, sha))) {
      throw badRequest(`${field} is not a decodable image.`);
    }
    return { data, sha };
  }

  /**
   * POST /api/tryon/v2/tasks after admission: validation (400), credits (402), the task, and
   * the fault to inject now that it exists (the credit is spent either way).
   */
  async create(key: string, form: Form): Promise<CreateResult> {
    const { clothType: type, hd } = parseCreateFields(form);
    const cloth = await this.image(form, 'cloth_image');
    const lower = type === 'combo' ? await this.image(form, 'lower_cloth_image') : undefined;
    const model = await this.image(form, 'model_image');

    const state = this.keys.get(key);
    if (!state) throw new HttpError(401);
    if (state.credits <= 0) throw new HttpError(402);
    state.credits--;
    state.tasksCreated++;

    const { durations } = this.config;
    const task = this.tasks.create(
      { key, clothType: type, hd },
      this.clock.now(),
      {
        typicalMs: hd ? durations.hdMs : durations.normalMs,
        shape: durations,
        queuedMs: durations.queuedMs,
        queuedFamily: durations.queuedFamily,
        failureRate: this.config.failureRate,
        progress: { ...this.config.progress },
      },
      (willComplete) => {
        if (!willComplete) return undefined;
        const resultKey = resultKeyOf({
          modelSha: model.sha,
          clothSha: cloth.sha,
          lowerClothSha: lower?.sha,
          clothType: type,
          hd,
        });
        this.results.ensure(
          resultKey,
          () => ({
            model: model.data,
            cloth: cloth.data,
            lowerCloth: lower?.data,
            clothType: type,
            hd,
          }),
          this.onRenderError,
        );
        return resultKey;
      },
    );
    const { faults } = this.config;
    if (this.faultPicker.happens('notFoundAfterCreate', faults.notFoundAfterCreate)) {
      task.hiddenUntil = task.createdAt + faults.notFoundMs;
    }
    const fault = this.faultPicker.afterCreate(faults);
    return { answer: { task_id: task.id, status: 'CREATED' }, fault };
  }

  /** GET /api/tryon/v2/tasks/:id; another key's task is as unknown as a missing one. */
  poll(key: string, id: string, linkBase: string | undefined): TaskView {
    const task = this.tasks.get(id);
    const now = this.clock.now();
    const hidden = task?.hiddenUntil !== undefined && now < task.hiddenUntil;
    if (!task || task.key !== key || hidden) throw new HttpError(404, `Task ${id} not found.`);
    const base = this.config.publicUrl ?? linkBase ?? this.baseUrl;
    const view = this.tasks.view(task, now, (t) =>
      this.signer.url(
        base,
        t.id,
        this.config.now() + this.clock.toReal(this.config.downloadUrlTtlMs),
      ),
    );
    task.polls++;
    if (task.seenAt === undefined && (view.status === 'COMPLETED' || view.status === 'FAILED')) {
      task.seenAt = now;
    }
    return view;
  }

  /**
   * Tasks with their times in real epoch ms (the simulator's clock source), oldest first: the
   * records already kept per task, converted on demand, so nothing is stored for this.
   */
  taskTimes(query: SimTaskQuery = {}): SimTaskPage {
    const limit = Math.max(1, Math.min(MAX_TASK_PAGE, Math.floor(query.limit ?? MAX_TASK_PAGE)));
    const after = query.after !== undefined ? Number(query.after) : -Infinity;
    const real = (virtualMs: number): number =>
      Math.round(this.clock.toRealEpoch(virtualMs) * 10) / 10;
    const tasks: SimTaskTimes[] = [];
    let more = false;
    for (const task of this.tasks.all()) {
      if (Number(task.id) <= after) continue;
      if (query.key !== undefined && task.key !== query.key) continue;
      if (tasks.length === limit) {
        more = true;
        break;
      }
      tasks.push({
        id: task.id,
        key: task.key,
        hd: task.hd,
        outcome: task.outcome,
        created_ms: real(task.createdAt),
        started_ms: real(task.startedAt),
        completed_ms: real(task.completedAt),
        seen_ms: task.seenAt === undefined ? null : real(task.seenAt),
        polls: task.polls,
      });
    }
    return {
      now_ms: this.config.now(),
      time_scale: this.config.timeScale,
      tasks,
      next_after: more ? (tasks.at(-1)?.id ?? null) : null,
    };
  }

  async checkModel(form: Form): Promise<ModelCheckResult> {
    const { sha } = await this.image(form, 'input_image');
    return modelCheck(sha, this.config.inputCheckOverrides);
  }

  async checkClothes(form: Form): Promise<ClothesCheckResult> {
    const { sha } = await this.image(form, 'input_image');
    return clothesCheck(sha, this.config.inputCheckOverrides);
  }

  /** The signed download route: 403 for a bad or expired link, the JPEG otherwise. */
  async download(file: string, expires: unknown, signature: unknown): Promise<Buffer> {
    const match = /^(\d{1,16})\.jpg$/.exec(file);
    const id = match?.[1];
    if (!id) throw new HttpError(404, 'No such result.');
    const verdict = this.signer.verify(id, expires, signature, this.config.now());
    if (verdict === 'bad-signature') throw new HttpError(403, 'The download signature is invalid.');
    if (verdict === 'expired') throw new HttpError(403, 'The download link has expired.');
    const task: Task | undefined = this.tasks.get(id);
    if (!task?.resultKey) throw new HttpError(404, 'No such result.');
    const body = await this.results.read(task.resultKey);
    this.downloads[id] = sha256hex(body);
    return body;
  }

  stats(): SimStats {
    const keys: Record<string, SimKeyStats> = {};
    for (const [key, state] of this.keys) keys[key] = state.stats();
    return {
      keys,
      unauthorized: this.unauthorized,
      tasks: this.tasks.counts(this.clock.now()),
      downloads: { ...this.downloads },
    };
  }
}
