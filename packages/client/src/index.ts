export { type ClientConfig, type ClientNoteState, DEFAULT_FINAL_STATES, type RetryOptions } from "./config.ts";
export { decrypt, decryptBytes } from "./decrypt.ts";
export {
  type ClientErrorCode,
  NotepipeError,
  type NotepipeErrorCode,
  type NotepipeErrorDetails,
  type ServerErrorCode,
} from "./errors.ts";
export {
  deriveKeyFromPassphrase,
  exportKeyJwk,
  exportKeyRaw,
  generateKey,
  importKeyJwk,
  importKeyRaw,
  type KeyOptions,
  type PassphraseParams,
  PBKDF2_MAX_ITERATIONS,
  PBKDF2_MIN_ITERATIONS,
  PBKDF2_SALT_BYTES,
} from "./keys.ts";
export {
  type KeyValueStorage,
  LocalStoragePendingStore,
  MemoryPendingStore,
  type PendingNote,
  type PendingStore,
} from "./pending.ts";
export { parseRetryAfter } from "./request.ts";
export { type NoteChange, type ResumeResult, resumeOnOpen, STATUS_BATCH_SIZE } from "./resume.ts";
export { type NoteInput, send } from "./send.ts";
