/**
 * The API's own limits, in one place so the README, the OpenAPI descriptions and the tests
 * agree. Limits that deployments tune come from the environment (config.api); these do not.
 */
const KiB = 1024;
const MiB = 1024 * KiB;

/** Body limit of every JSON route except POST /v1/batches. */
export const DEFAULT_BODY_LIMIT_BYTES = 1 * MiB;
/** POST /v1/batches: 10,000 items with URL refs are about 3 MB; this leaves room. */
export const BATCH_BODY_LIMIT_BYTES = 16 * MiB;
/** A batch's or one item's `metadata`, serialised as JSON. */
export const METADATA_MAX_BYTES = 16 * KiB;
/** Files per POST /v1/assets request. */
export const MAX_UPLOAD_FILES = 20;
/** Images larger than this are refused before they are decoded (decompression bombs). */
export const MAX_IMAGE_PIXELS = 50_000_000;
/** Distinct URL hosts named by one batch: each is resolved once at submit. */
export const MAX_URL_HOSTS_PER_BATCH = 100;
/** Jobs per BullMQ addBulk call, and how many such calls are in flight at once. */
export const ENQUEUE_CHUNK = 1_000;
export const ENQUEUE_LANES = 3;
/** How many unknown asset ids or bad URLs an error message names. */
export const ERROR_EXAMPLES = 5;
/** How long /readyz waits for Redis and storage. */
export const READY_CHECK_TIMEOUT_MS = 2_000;
/** How long an input check's answer is kept, by the image's sha256: FitRoom is asked once per image. */
export const INPUT_CHECK_CACHE_TTL_SECONDS = 30 * 86_400;
/**
 * How long a forwarded input check may wait for a free slot of the FitRoom budget before it
 * answers 429 (FitRoom itself would answer 429 at once; a short wait spares the caller a retry).
 */
export const INPUT_CHECK_MAX_WAIT_MS = 10_000;
/** Parts of a FitRoom-compatible multipart request (FitRoom's forms have at most five). */
export const FITROOM_FORM_MAX_FILES = 8;
export const FITROOM_FORM_MAX_FIELDS = 16;
/**
 * Deepest nesting of arrays and objects accepted in a JSON body. Parsing is iterative, but
 * serialising (metadata is stored and echoed as JSON) recurses: a body nested a million levels
 * deep would overflow the stack. Real metadata is a few levels deep.
 */
export const MAX_JSON_DEPTH = 64;
/** A tenant may replay a batch's webhook events once per this long (operators any time). */
export const REPLAY_COOLDOWN_MS = 10_000;
/**
 * Webhook events one tenant may replay per window (its own replays; operators' are free):
 * bounds what replays add to Redis and to the webhook queue.
 */
export const REPLAY_EVENTS_PER_WINDOW = 25_000;
export const REPLAY_BUDGET_WINDOW_MS = 3_600_000;
/** Items read per page while a replay queues their events (one addBulk per page). */
export const REPLAY_PAGE = 500;
/** Most delivery attempts one GET .../deliveries answers (the worker keeps the last 1,000). */
export const DELIVERIES_MAX_LIMIT = 1_000;
/** Event streams (SSE, /v1 and /ui together) one tenant may hold open at once; 429 beyond. */
export const MAX_EVENT_STREAMS_PER_TENANT = 20;
/**
 * How long a stream's slot outlives its last renewal (renewed with each heartbeat): how long a
 * crashed api process's streams still count against their tenant.
 */
export const EVENT_STREAM_LEASE_MS = 45_000;
