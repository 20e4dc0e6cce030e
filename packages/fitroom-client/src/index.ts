export {
  FitRoomClient,
  DEFAULT_TIMEOUT_MS,
  DEFAULT_DOWNLOAD_TIMEOUT_MS,
  FITROOM_PATHS,
} from './client';
export {
  FitRoomError,
  FitRoomUnauthorizedError,
  FitRoomInsufficientCreditError,
  FitRoomRateLimitedError,
  FitRoomBadRequestError,
  FitRoomNotFoundError,
  FitRoomServerError,
  FitRoomUnavailableError,
  FitRoomTimeoutError,
  FitRoomNetworkError,
  FitRoomDownloadExpiredError,
  FitRoomInvalidResponseError,
  isFitRoomError,
  extractFitRoomMessage,
  parseRetryAfter,
  redact,
} from './errors';
export type {
  FitRoomErrorCode,
  FitRoomErrorOperation,
  FitRoomErrorOptions,
  FitRoomOperation,
} from './errors';
export { MODEL_CHECK_CODES, describeModelCheckCode, clothTypeFor } from './model-check';
export type { ModelCheckCodeInfo, ModelCheckSeverity } from './model-check';
export { sniffImageFormat } from './multipart';
export type {
  BeforeRequestHook,
  BeforeRequestInfo,
  CallOptions,
  RequestEnd,
  ClothType,
  ClothesCheckResult,
  ClothesType,
  ComboTaskInput,
  CompletedTask,
  CreateTaskInput,
  CreateTaskResult,
  CreatedTask,
  DownloadResult,
  FailedTask,
  FitRoomClientOptions,
  ImageInput,
  ModelCheckResult,
  ProcessingTask,
  SingleClothType,
  SingleTaskInput,
  Task,
  TaskStatus,
} from './types';
