export {
  type ClientConfig,
  type ClientNoteState,
  DEFAULT_FINAL_STATES,
  type IngestConnection,
  type RetryOptions,
} from "./config.ts";
export { decrypt, decryptBytes } from "./decrypt.ts";
export { confirmCode, requestCode } from "./enroll.ts";
export {
  type ClientErrorCode,
  NotepipeError,
  type NotepipeErrorCode,
  type NotepipeErrorDetails,
  type ServerErrorCode,
} from "./errors.ts";
export { createDurableStore } from "./indexeddb.ts";
export { AsyncStorageKeyStore } from "./key-store/async-storage-key-store.ts";
export { IndexedDbKeyStore } from "./key-store/indexeddb-key-store.ts";
export { currentKey, findKey, type KeptKey, type KeyStore, keepKey, keepNewKey } from "./key-store/key-store.ts";
export { MemoryKeyStore } from "./key-store/memory-key-store.ts";
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
export { type AsyncKeyValueStorage, AsyncStorageOutboxStore } from "./outbox/async-storage-store.ts";
export type { DrainResult } from "./outbox/drain.ts";
export { IndexedDbOutboxStore } from "./outbox/indexeddb-store.ts";
export { LEASE_MS } from "./outbox/lock.ts";
export { MemoryOutboxStore } from "./outbox/memory-store.ts";
export {
  createOutbox,
  DEFAULT_EXPIRE_AFTER_MS,
  DEFAULT_POLL_INTERVAL_MS,
  type Outbox,
  type OutboxConfig,
  type OutboxNoteInput,
} from "./outbox/outbox.ts";
export type { OutboxChange } from "./outbox/records.ts";
export type { DrainListener } from "./outbox/schedule.ts";
export type { Lease, OutboxNote, OutboxRecord, OutboxState, OutboxStore } from "./outbox/store.ts";
export {
  IndexedDbPendingStore,
  type KeyValueStorage,
  LocalStoragePendingStore,
  MemoryPendingStore,
  type PendingNote,
  type PendingStore,
} from "./pending.ts";
export { parseRetryAfter } from "./request.ts";
export { type NoteChange, type ResumeResult, resumeOnOpen } from "./resume.ts";
export type { NoteContent } from "./seal.ts";
export { type NoteInput, send } from "./send.ts";
export { STATUS_BATCH_SIZE } from "./status.ts";
