export {
  tenantSigningSecret,
  signWebhook,
  webhookEventId,
  webhookEvent,
  WEBHOOK_EVENT_TYPES,
  type WebhookEvent,
  type WebhookEventType,
  type WebhookHeaders,
} from './signing.js';
export { classifyAddress, describeRange, type AddressClassification } from './address.js';
export {
  checkPublicUrl,
  checkUrlSyntax,
  resolvePublicAddresses,
  defaultLookup,
  UnsafeDestinationError,
  DEFAULT_PROTOCOLS,
  type AllowedProtocol,
  type CheckUrlOptions,
  type LookupFn,
  type ResolvedAddress,
  type UrlCheckCode,
  type UrlCheckResult,
} from './url-check.js';
export {
  createSafeDispatcher,
  isSafeDispatcher,
  safeDispatcherPolicy,
  type SafeDispatcherOptions,
} from './dispatcher.js';
export {
  safeFetch,
  SafeFetchError,
  type SafeFetchErrorCode,
  type SafeFetchOptions,
  type SafeFetchResult,
} from './safe-fetch.js';
export {
  deliverWebhook,
  type DeliverWebhookInput,
  type DeliveryErrorCode,
  type DeliveryResult,
} from './deliver.js';
export { webhookRetryDelay } from './retry.js';
export type { TransportErrorCode } from './errors.js';
