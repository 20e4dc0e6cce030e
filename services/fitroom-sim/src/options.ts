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
    /** Relative jitter: a duration is drawn uniformly from mean * (1 ± jitter). Default 0.1. */
    jitter?: number;
    /** Time spent in CREATED before PROCESSING starts, FitRoom time. Default 500. */
    queuedMs?: number;
  };
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
  /** Log requests (pino). Default false. */
  logger?: boolean;
}

/** Counters per API key, as served by GET /_sim/stats. */
export interface SimKeyStats {
  /** "POST /api/tryon/v2/tasks" | "GET /api/tryon/v2/tasks/:id" | "POST /api/tryon/input_check/v1/model" | ... -> status -> count */
  requests: Record<string, Record<string, number>>;
  total: number;
  http_429: number;
  creates: number;
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

export interface RunningSim {
  /** Base URL, e.g. http://127.0.0.1:41234 (no trailing slash). */
  url: string;
  stats(): SimStats;
  /** Change knobs at run time (fault injection); unknown fields are ignored. */
  configure(patch: Partial<SimOptions>): void;
  close(): Promise<void>;
}
