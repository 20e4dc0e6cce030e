import type { DurationFamily, ProgressCurve, QueuedFamily } from './behaviour.js';
import type { FaultConfig } from './faults.js';

/**
 * Knobs of the FitRoom simulator. Every duration is in FitRoom's own time (what the real
 * service would take); `timeScale` divides all of them, the rate window included, so a
 * simulator at timeScale 20 behaves like FitRoom watched through a 20x fast-forward.
 */
export interface SimOptions {
  /** Listen address; always loopback unless told otherwise. Default 127.0.0.1. */
  host?: string;
  /** 0 picks a free port. */
  port?: number;
  /** API keys and their credits (one credit per created task). Default { 'sim-key': 1_000_000 }. */
  keys?: Record<string, number>;
  /** N times faster than FitRoom: durations, the rate window, signed URL TTL. Default 1. */
  timeScale?: number;
  /** Requests per key in any rolling window. Default 60. */
  rateLimit?: number;
  /** Rolling window length in FitRoom time. Default 60_000. */
  rateWindowMs?: number;
  /** Task durations, FitRoom time: created -> completed. */
  durations?: {
    /** Default 9_000. */
    normalMs?: number;
    /** Default 30_000. */
    hdMs?: number;
    /**
     * How durations spread around normalMs / hdMs: 'fixed' (exactly), 'normal' (uniform within
     * ± jitter), 'lognormal' (median normalMs/hdMs, sigma, a heavy tail), 'bimodal' (most at
     * the duration ± jitter, a slowShare at slowFactor times it). Default 'normal'.
     */
    family?: DurationFamily;
    /** Relative jitter: a duration is drawn uniformly from mean * (1 ± jitter). Default 0.1. */
    jitter?: number;
    /** lognormal: sigma of ln(duration). Default 0.6. */
    sigma?: number;
    /** bimodal: share of slow tasks, 0..1. Default 0.1. */
    slowShare?: number;
    /** bimodal: the slow mode is this many times normalMs / hdMs (>= 1). Default 5. */
    slowFactor?: number;
    /**
     * Time spent in CREATED before PROCESSING starts, FitRoom time. With queuedFamily 'fixed'
     * it is part of the duration (capped at half of it); otherwise it is the mean of a wait
     * drawn per task and added before the drawn duration. Default 500.
     */
    queuedMs?: number;
    /** 'fixed', 'uniform' (0..2 x queuedMs) or 'exponential' (mean queuedMs). Default 'fixed'. */
    queuedFamily?: QueuedFamily;
  };
  /** How PROCESSING progress rises with time (fixed per task at create). */
  progress?: {
    /** linear, slow-then-fast, fast-then-slow, stepwise, stalled. Default 'linear'. */
    curve?: ProgressCurve;
    /** stepwise: number of stages. Default 4. */
    stages?: number;
    /** stalled: share of processing time spent between 95 and 99. Default 0.4. */
    stallShare?: number;
  };
  /** Faults after a task exists and spurious 429s (see faults.ts); patches merge per fault. */
  faults?: Partial<FaultConfig>;
  /** Added latency per endpoint, FitRoom ms (scaled), on top of latencyMs. Default none. */
  routeLatencyMs?: Partial<Record<RouteName, { min: number; max: number }>>;
  /** Share of tasks that end FAILED. Default 0. */
  failureRate?: number;
  /** Share of API requests (after auth and the rate check) answered 500. Default 0. */
  serverErrorRate?: number;
  /** Share of API requests (after auth and the rate check) answered 503. Default 0. */
  unavailableRate?: number;
  /** Added latency before answering an API request, real milliseconds: min and max. Default 0. */
  latencyMs?: { min: number; max: number };
  /** Lifetime of a download_signed_url, FitRoom time. Default 600_000 (10 min). */
  downloadUrlTtlMs?: number;
  /** Seed for the simulator's random draws, for reproducible runs. Default: random. */
  seed?: number;
  /** Log requests (pino). Default false. API keys are never logged. */
  logger?: boolean;
  /**
   * Id of the first created task; later ones count up by one (ids are numeric strings, shared
   * by all keys). Set 123456 to make the first task match the document's examples.
   * Default: a random 6-digit number drawn from the seeded PRNG.
   */
  firstTaskId?: number;
  /**
   * Force the answer of an input check for an image, keyed by the lowercase sha256 (hex) of
   * the uploaded bytes. A ModelCheckResult applies to /input_check/v1/model, a
   * ClothesCheckResult to /input_check/v1/clothes; other images follow the default rule
   * (see input-checks.ts: `modelCheckRule`, `clothesCheckRule`). Default {}.
   */
  inputCheckOverrides?: Record<string, ModelCheckResult | ClothesCheckResult>;
  /**
   * Base URL put into download_signed_url. Default: `http://<Host header of the poll>`, so the
   * link works for whoever polled (e.g. through a container network); falls back to `url`.
   */
  publicUrl?: string;
  /** Largest accepted upload per file, bytes. Default 25 MiB; larger answers 413. */
  maxUploadBytes?: number;
  /**
   * The wall clock (epoch ms) that drives statuses, the rate window and link expiry. Default:
   * the real monotonic clock. Tests may pass a manual clock to step time exactly; added
   * latency still waits in real time.
   */
  now?: () => number;
}

/** The API endpoints, by short name (routeLatencyMs, stats). */
export type RouteName = 'create' | 'poll' | 'checkModel' | 'checkClothes';

/** Answer of POST /api/tryon/input_check/v1/model, exactly the document's shapes. */
export type ModelCheckResult =
  | { is_good: true; good_clothes_types: ClothesType[] }
  | { is_good: true; error_code: ModelWarningCode; good_clothes_types: ClothesType[] }
  | { is_good: false; error_code: ModelErrorCode; good_clothes_types: [] };

/** Answer of POST /api/tryon/input_check/v1/clothes. */
export interface ClothesCheckResult {
  clothes_type: ClothesType;
  is_clothes: boolean;
}

/** Clothing categories of the input checks (create uses upper, lower, full_set, combo). */
export type ClothesType = 'upper' | 'lower' | 'full';
/** 410xxx: the image can be processed but results may not be optimal. */
export type ModelWarningCode = '410001' | '410002' | '410003';
/** 400xxx: the image cannot be processed. */
export type ModelErrorCode = '400001' | '400002' | '400003' | '400004';

/** Counters per API key, as served by GET /_sim/stats. */
export interface SimKeyStats {
  /** "POST /api/tryon/v2/tasks" | "GET /api/tryon/v2/tasks/:id" | "POST /api/tryon/input_check/v1/model" | ... -> status -> count */
  requests: Record<string, Record<string, number>>;
  /** Every answered request with this key, whatever its status. */
  total: number;
  http_429: number;
  /** Creates answered 200. */
  creates: number;
  /**
   * Tasks created (= credits charged), including creates whose answer was late, lost to a
   * reset or replaced by a 500 after the task was made.
   */
  tasks_created: number;
  /** GET /api/tryon/v2/tasks/:id answered 200. */
  polls: number;
  credits_left: number;
  /** The most requests (accepted or not) that arrived within any rolling window. */
  max_in_window: number;
}

export interface SimStats {
  keys: Record<string, SimKeyStats>;
  /** Requests whose X-API-KEY was missing or unknown. */
  unauthorized: number;
  tasks: { created: number; completed: number; failed: number };
  /** sha256 (hex) of every result image body served by the download route, by task id. */
  downloads: Record<string, string>;
}

/**
 * One task's timeline in real (wall-clock) epoch milliseconds of the simulator's clock, as
 * served by GET /_sim/tasks: what a benchmark needs to measure lag and throughput in real time.
 */
export interface SimTaskTimes {
  id: string;
  /** The API key that created it. */
  key: string;
  hd: boolean;
  outcome: 'COMPLETED' | 'FAILED';
  created_ms: number;
  started_ms: number;
  /** When the task reached its outcome (it may still lie in the future). */
  completed_ms: number;
  /** When a status poll first answered COMPLETED or FAILED; null until one did. */
  seen_ms: number | null;
  /** Status polls answered 200 for this task. */
  polls: number;
}

/** The answer of GET /_sim/tasks: one page of tasks, oldest first. */
export interface SimTaskPage {
  /** The simulator's real clock when it answered (epoch ms), to line up other clocks. */
  now_ms: number;
  time_scale: number;
  tasks: SimTaskTimes[];
  /** Pass as `after` for the next page; null at the end. */
  next_after: string | null;
}

/** Filters and paging of GET /_sim/tasks (`?key=&after=&limit=`). */
export interface SimTaskQuery {
  /** Only this key's tasks. */
  key?: string;
  /** Only tasks with a larger id than this one. */
  after?: string;
  /** At most this many tasks (default and maximum 10 000). */
  limit?: number;
}

export interface RunningSim {
  /** Base URL, e.g. http://127.0.0.1:41234 (no trailing slash). */
  url: string;
  stats(): SimStats;
  /** Per-task timelines in real ms (GET /_sim/tasks). */
  tasks(query?: SimTaskQuery): SimTaskPage;
  /** Change knobs at run time (fault injection); unknown fields are ignored. */
  configure(patch: Partial<SimOptions>): void;
  close(): Promise<void>;
}
