import { createHash } from 'node:crypto';
import { PassThrough } from 'node:stream';
import { request, type Dispatcher } from 'undici';
import {
  FitRoomDownloadExpiredError,
  FitRoomInvalidResponseError,
  extractFitRoomMessage,
  redact,
  type FitRoomErrorOperation,
  type FitRoomOperation,
} from './errors';
import { buildForm, encodeForm, type FormFields } from './multipart';
import {
  MAX_ERROR_BODY_BYTES,
  MAX_JSON_BODY_BYTES,
  deadline,
  header,
  positive,
  readText,
  statusError,
  transportError,
} from './transport';
import type {
  BeforeRequestHook,
  CallOptions,
  ClothesCheckResult,
  CreateTaskInput,
  CreateTaskResult,
  DownloadResult,
  FitRoomClientOptions,
  ImageInput,
  ModelCheckResult,
  RequestEnd,
  Task,
} from './types';
import {
  InvalidBodyError,
  parseClothesCheck,
  parseCreateTask,
  parseModelCheck,
  parseTask,
} from './validate';

export const DEFAULT_TIMEOUT_MS = 30_000;
export const DEFAULT_DOWNLOAD_TIMEOUT_MS = 60_000;

/** FitRoom's routes, relative to the base URL. */
export const FITROOM_PATHS = {
  createTask: '/api/tryon/v2/tasks',
  getTask: (taskId: string) => `/api/tryon/v2/tasks/${encodeURIComponent(taskId)}`,
  checkModel: '/api/tryon/input_check/v1/model',
  checkClothes: '/api/tryon/input_check/v1/clothes',
} as const;

/** Calls `release` at most once; a limiter's bookkeeping error must not replace FitRoom's answer. */
function once(release: void | ((end: RequestEnd) => void)): (end: RequestEnd) => void {
  let released = false;
  return (end) => {
    if (released || typeof release !== 'function') return;
    released = true;
    try {
      release(end);
    } catch {
      // ignored, see above
    }
  };
}

/**
 * Client of FitRoom's try-on API (or a simulator or a FitRoom-compatible proxy). One instance
 * per API key. It does no rate limiting and no retrying of its own: `beforeRequest` is the hook
 * for a limiter, and each FitRoomError says whether it is `retryable`.
 */
export class FitRoomClient {
  readonly baseUrl: string;
  /** A short, non-reversible id of the API key, safe to log. */
  readonly keyId: string;
  readonly timeoutMs: number;
  readonly downloadTimeoutMs: number;
  readonly #apiKey: string;
  readonly #beforeRequest: BeforeRequestHook | undefined;
  readonly #dispatcher: Dispatcher | undefined;

  constructor(options: FitRoomClientOptions) {
    if (typeof options.apiKey !== 'string' || options.apiKey === '') {
      throw new TypeError('FitRoomClient: apiKey is required');
    }
    if (!URL.canParse(options.baseUrl)) {
      throw new TypeError('FitRoomClient: baseUrl must be an absolute URL');
    }
    const base = new URL(options.baseUrl);
    if (base.protocol !== 'http:' && base.protocol !== 'https:') {
      throw new TypeError('FitRoomClient: baseUrl must be http(s)');
    }
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.#apiKey = options.apiKey;
    this.keyId = createHash('sha256').update(options.apiKey).digest('hex').slice(0, 12);
    this.timeoutMs = positive(options.timeoutMs, DEFAULT_TIMEOUT_MS, 'timeoutMs');
    this.downloadTimeoutMs = positive(
      options.downloadTimeoutMs,
      DEFAULT_DOWNLOAD_TIMEOUT_MS,
      'downloadTimeoutMs',
    );
    this.#beforeRequest = options.beforeRequest;
    this.#dispatcher = options.dispatcher;
  }

  /** Creates a try-on task (one credit). Answers FitRoom's `{ task_id, status: 'CREATED' }`. */
  async createTask(input: CreateTaskInput, options?: CallOptions): Promise<CreateTaskResult> {
    const fields: FormFields = {
      model_image: input.model,
      cloth_image: input.cloth,
      lower_cloth_image: (input as { lowerCloth?: ImageInput }).lowerCloth,
      cloth_type: input.clothType,
      hd_mode: input.hdMode === undefined ? undefined : String(input.hdMode),
    };
    return this.#call(
      'createTask',
      'POST',
      FITROOM_PATHS.createTask,
      fields,
      parseCreateTask,
      options,
    );
  }

  /** A task's status; COMPLETED carries `download_signed_url`, FAILED carries `error`. */
  async getTask(taskId: string, options?: CallOptions): Promise<Task> {
    if (typeof taskId !== 'string' || taskId === '') {
      throw new TypeError('getTask: taskId must be a non-empty string');
    }
    return this.#call(
      'getTask',
      'GET',
      FITROOM_PATHS.getTask(taskId),
      undefined,
      parseTask,
      options,
    );
  }

  /** FitRoom's model-image check; see `describeModelCheckCode` for `error_code`. */
  async checkModel(image: ImageInput, options?: CallOptions): Promise<ModelCheckResult> {
    return this.#call(
      'checkModel',
      'POST',
      FITROOM_PATHS.checkModel,
      { input_image: image },
      parseModelCheck,
      options,
    );
  }

  /** FitRoom's clothes-image check. */
  async checkClothes(image: ImageInput, options?: CallOptions): Promise<ClothesCheckResult> {
    return this.#call(
      'checkClothes',
      'POST',
      FITROOM_PATHS.checkClothes,
      { input_image: image },
      parseClothesCheck,
      options,
    );
  }

  /**
   * Downloads a result from its signed URL: a plain GET (no API key, no beforeRequest), the
   * body streamed. The download deadline covers the body too: consume it promptly.
   * An expired URL (403, 410, or 400 mentioning "expired") throws FitRoomDownloadExpiredError.
   */
  async downloadResult(url: string, options: CallOptions = {}): Promise<DownloadResult> {
    const operation = 'downloadResult';
    if (typeof url !== 'string' || !URL.canParse(url)) {
      throw new TypeError('downloadResult: url must be an absolute URL');
    }
    const parsed = new URL(url);
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
      throw new TypeError('downloadResult: url must be http(s)');
    }
    options.signal?.throwIfAborted();
    const timeoutMs = positive(options.timeoutMs, this.downloadTimeoutMs, 'timeoutMs');
    const limit = deadline(timeoutMs, operation, options.signal);
    let response: Dispatcher.ResponseData;
    try {
      response = await request(parsed, {
        method: 'GET',
        headers: { accept: 'image/*, */*;q=0.5' },
        signal: limit.signal,
        headersTimeout: timeoutMs,
        bodyTimeout: timeoutMs,
        ...(this.#dispatcher ? { dispatcher: this.#dispatcher } : {}),
      });
    } catch (err) {
      limit.dispose();
      throw transportError(err, operation, limit, options.signal, [this.#apiKey]);
    }

    const { statusCode, headers, body } = response;
    if (statusCode < 200 || statusCode >= 300) {
      let text = '';
      try {
        text = (await readText(body, MAX_ERROR_BODY_BYTES)).text;
      } catch {
        // the status says enough
      } finally {
        limit.dispose();
      }
      // GCS answers an expired V4 signature with 400 ExpiredToken; S3 and the simulator 403.
      const expired =
        statusCode === 403 || statusCode === 410 || (statusCode === 400 && /expired/i.test(text));
      if (expired) {
        const fitroomMessage = extractFitRoomMessage(text, [this.#apiKey]);
        throw new FitRoomDownloadExpiredError(
          `FitRoom downloadResult: ${statusCode}: the signed URL has expired or is not valid`,
          { status: statusCode, operation, ...(fitroomMessage ? { fitroomMessage } : {}) },
        );
      }
      throw statusError(statusCode, headers, text, operation, [this.#apiKey]);
    }

    const out = new PassThrough();
    let settled = false;
    const finish = () => {
      if (settled) return;
      settled = true;
      limit.dispose();
    };
    body.on('error', (err) => {
      finish();
      out.destroy(transportError(err, operation, limit, options.signal, [this.#apiKey]) as Error);
    });
    out.on('close', () => {
      finish();
      if (!body.destroyed) body.destroy();
    });
    body.on('end', finish);
    body.pipe(out);

    const contentLength = Number(header(headers, 'content-length'));
    const result: DownloadResult = {
      body: out,
      contentType: header(headers, 'content-type') ?? 'application/octet-stream',
    };
    if (Number.isSafeInteger(contentLength) && contentLength >= 0) {
      result.contentLength = contentLength;
    }
    return result;
  }

  /** One API request: beforeRequest, send, read, release, map errors, validate. */
  async #call<T>(
    operation: FitRoomOperation,
    method: 'GET' | 'POST',
    path: string,
    fields: FormFields | undefined,
    parse: (body: unknown) => T,
    options: CallOptions = {},
  ): Promise<T> {
    const { signal } = options;
    signal?.throwIfAborted();
    const timeoutMs = positive(options.timeoutMs, this.timeoutMs, 'timeoutMs');
    // Build the body before taking a token: a slow Blob must not hold a limiter slot.
    const form = fields === undefined ? undefined : await encodeForm(await buildForm(fields));

    const release = await this.#beforeRequest?.({
      operation,
      apiKey: this.#apiKey,
      ...(signal ? { signal } : {}),
    });
    const releaseOnce = once(release);

    const limit = deadline(timeoutMs, operation, signal);
    let statusCode: number;
    let end: RequestEnd = 'error';
    let headers: Dispatcher.ResponseData['headers'];
    let text: string;
    const sentAt = Date.now();
    try {
      signal?.throwIfAborted();
      const response = await request(`${this.baseUrl}${path}`, {
        method,
        headers: {
          'x-api-key': this.#apiKey,
          accept: 'application/json',
          ...(form ? { 'content-type': form.contentType } : {}),
        },
        ...(form ? { body: form.body } : {}),
        signal: limit.signal,
        headersTimeout: timeoutMs,
        bodyTimeout: timeoutMs,
        ...(this.#dispatcher ? { dispatcher: this.#dispatcher } : {}),
      });
      statusCode = response.statusCode;
      end = statusCode;
      headers = response.headers;
      const ok = statusCode >= 200 && statusCode < 300;
      const read = await readText(response.body, ok ? MAX_JSON_BODY_BYTES : MAX_ERROR_BODY_BYTES);
      if (ok && !read.complete) {
        throw new FitRoomInvalidResponseError(
          `FitRoom ${operation}: answer larger than ${MAX_JSON_BODY_BYTES} bytes`,
          { status: statusCode, operation },
        );
      }
      text = read.text;
    } catch (err) {
      throw transportError(err, operation, limit, signal, [this.#apiKey]);
    } finally {
      limit.dispose();
      releaseOnce(end);
    }

    if (statusCode < 200 || statusCode >= 300) {
      throw statusError(statusCode, headers, text, operation, [this.#apiKey], sentAt);
    }
    return this.#parseAnswer(operation, statusCode, text, parse);
  }

  /** A 2xx answer's body, validated into what the operation returns. */
  #parseAnswer<T>(
    operation: FitRoomOperation,
    statusCode: number,
    text: string,
    parse: (body: unknown) => T,
  ): T {
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw this.#invalid(operation, statusCode, 'body is not JSON', text);
    }
    try {
      return parse(json);
    } catch (err) {
      if (err instanceof InvalidBodyError) {
        throw this.#invalid(operation, statusCode, err.message, text);
      }
      throw err;
    }
  }

  #invalid(
    operation: FitRoomErrorOperation,
    status: number,
    problem: string,
    text: string,
  ): FitRoomInvalidResponseError {
    const snippet = extractFitRoomMessage(text, [this.#apiKey]);
    return new FitRoomInvalidResponseError(
      redact(`FitRoom ${operation}: unexpected answer (${status}): ${problem}`, [this.#apiKey]),
      { status, operation, ...(snippet ? { fitroomMessage: snippet } : {}) },
    );
  }
}
