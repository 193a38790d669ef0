export { createLocalProvider, type LocalProvider } from "./app.ts";
export * from "./contracts.ts";
export { ERRORS, type ErrorCode, ProviderError } from "./errors.ts";
export {
  type FaultDecision,
  type Faults,
  type FaultsInput,
  faultsSchema,
  type LostAnswer,
  OUTAGE_MODES,
  type OutageMode,
  REJECT_MODES,
} from "./faults.ts";
export { IDEMPOTENCY_TTL_MS } from "./idempotency.ts";
export { type InboxEmail, type InboxFilter, MAX_INBOX_EMAILS, NOTE_ID_HEADER } from "./inbox.ts";
export { POSTMARK_MAX_BATCH } from "./postmark.ts";
export { mailboxAddress, refusalReason } from "./recipients.ts";
export { RESEND_MAX_BATCH } from "./resend.ts";
export {
  DEFAULT_PROVIDER_PORT,
  type RunningLocalProvider,
  type StartLocalProviderOptions,
  startLocalProvider,
} from "./server.ts";
export { DEFAULT_API_KEY, DEFAULT_RATE_LIMIT_PER_SECOND, type LocalProviderOptions } from "./state.ts";
export {
  bouncesLater,
  DEFAULT_WEBHOOK_DELAY_MS,
  svixSignature,
  type WebhookOptions,
  WebhookSender,
  type WebhookStats,
} from "./webhooks.ts";
