import type { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import type { FitRoomOperation } from './errors';

/** An image to upload. A `Blob` that is a `File` lends its name and type. */
export interface ImageInput {
  data: Buffer | Uint8Array | Blob;
  /** Sent as the multipart filename. Default: `<field>.<ext>` from the sniffed format. */
  filename?: string;
  /** Default: sniffed from the bytes (JPEG, PNG, WebP, GIF, BMP, TIFF, HEIC/AVIF), else the Blob's type. */
  contentType?: string;
}

/** `cloth_type` of a single-garment try-on. */
export type SingleClothType = 'upper' | 'lower' | 'full_set';
/** `cloth_type` values FitRoom accepts on create. */
export type ClothType = SingleClothType | 'combo';

export interface SingleTaskInput {
  clothType: SingleClothType;
  model: ImageInput;
  cloth: ImageInput;
  /** Sent as hd_mode "true"/"false"; omitted when undefined. */
  hdMode?: boolean;
}

export interface ComboTaskInput {
  clothType: 'combo';
  model: ImageInput;
  /** The upper garment. */
  cloth: ImageInput;
  lowerCloth: ImageInput;
  hdMode?: boolean;
}

export type CreateTaskInput = SingleTaskInput | ComboTaskInput;

export interface CreateTaskResult {
  task_id: string;
  status: 'CREATED';
}

export type TaskStatus = 'CREATED' | 'PROCESSING' | 'COMPLETED' | 'FAILED';

interface TaskBase {
  task_id: string;
  /** Unix seconds. */
  created_at?: number;
  started_at?: number;
  completed_at?: number;
}

export interface CreatedTask extends TaskBase {
  status: 'CREATED';
  /** 0. */
  progress: number;
}

export interface ProcessingTask extends TaskBase {
  status: 'PROCESSING';
  /** 1-99. */
  progress: number;
}

export interface CompletedTask extends TaskBase {
  status: 'COMPLETED';
  /** Temporary: download it promptly with `downloadResult`. */
  download_signed_url: string;
  /** 100. */
  progress: number;
}

export interface FailedTask extends TaskBase {
  status: 'FAILED';
  /** FitRoom's error text ('' when it sent none). */
  error: string;
  progress?: number;
}

export type Task = CreatedTask | ProcessingTask | CompletedTask | FailedTask;

/** Clothing categories of the input checks. */
export type ClothesType = 'upper' | 'lower' | 'full';

export interface ModelCheckResult {
  is_good: boolean;
  /** Which garment categories can be tried on this model; values outside ClothesType are dropped. */
  good_clothes_types: ClothesType[];
  /** "410xxx" warning or "400xxx" error; see `describeModelCheckCode`. */
  error_code?: string;
}

export interface ClothesCheckResult {
  /** The detected category; null when FitRoom sent none or one outside ClothesType. */
  clothes_type: ClothesType | null;
  is_clothes: boolean;
}

export interface BeforeRequestInfo {
  operation: FitRoomOperation;
  apiKey: string;
  /** The caller's signal, if any: a limiter may stop waiting when it aborts. */
  signal?: AbortSignal;
}

/** How a request ended: FitRoom's HTTP status, or 'error' when no answer came (timeout, reset). */
export type RequestEnd = number | 'error';

/**
 * Awaited before every FitRoom API request. A returned function is called exactly once when
 * that request's answer has arrived, or when it failed in any way (timeout included).
 */
export type BeforeRequestHook = (
  info: BeforeRequestInfo,
) => Promise<void | ((end: RequestEnd) => void)>;

export interface FitRoomClientOptions {
  /** e.g. https://platform.fitroom.app or a simulator's URL. */
  baseUrl: string;
  apiKey: string;
  /** Overall deadline of each API call, also used as headers/body timeout. Default 30 s. */
  timeoutMs?: number;
  /** Overall deadline of a result download, body included. Default 60 s. */
  downloadTimeoutMs?: number;
  beforeRequest?: BeforeRequestHook;
  /** undici dispatcher (Agent, Pool, ProxyAgent ...). Default: undici's global dispatcher. */
  dispatcher?: Dispatcher;
}

export interface CallOptions {
  signal?: AbortSignal;
  /** Overrides the client's timeout for this call. */
  timeoutMs?: number;
}

export interface DownloadResult {
  /** The image, streamed; consume or destroy it. Errors on it are FitRoomErrors. */
  body: Readable;
  contentType: string;
  contentLength?: number;
}
