/**
 * The one way this library fails: a {@link NotepipeError} with a code. Codes the ingest Worker
 * answers with are passed through as it sent them (README.md, "Error codes"); the others are ours.
 */

import type { IngestErrorCode } from "@notepipe/pipeline";

/**
 * Codes the ingest API answers with, in its `{"error": code, "message": …}` body: the Worker's own
 * table (@notepipe/pipeline's INGEST_ERRORS), imported as a type only, so no sentence is bundled.
 */
export type ServerErrorCode = IngestErrorCode;

/** Codes this library raises itself. */
export type ClientErrorCode =
  /** No answer: the connection failed or an attempt timed out. The note may have been accepted. */
  | "network_error"
  /** An answer that is not the ingest API's (a proxy's HTML page, a non-JSON body). */
  | "unexpected_response"
  /** The email text is not `<base64 nonce>\n<base64 ciphertext>`: cut, re-wrapped or not a note. */
  | "malformed_text"
  /** AES-GCM refused the tag: the wrong key (or passphrase), or a well-formed text that was altered. */
  | "authentication_failed"
  /** It decrypted, but to bytes that are not UTF-8: use `decryptBytes`. */
  | "not_text"
  /** A key, passphrase or its stored parameters this library will not use. */
  | "bad_key"
  /** The outbox's storage refused a read or a write (quota, private mode); nothing was half-written. */
  | "storage_failed"
  /** No token for a queued note yet (the outbox's `getToken` threw, or it has none): it stays queued. */
  | "token_unavailable"
  /** The outbox's key store holds no key (or did not keep the one given): nothing is encrypted. */
  | "key_not_stored";

/** A server code this version does not know still arrives as a string. */
export type NotepipeErrorCode = ServerErrorCode | ClientErrorCode | (string & {});

export interface NotepipeErrorDetails {
  /** The HTTP status, when the server answered. */
  status?: number;
  /** Whether the same call may succeed later: a network error, 429 or 5xx. */
  retryable?: boolean;
  /** For `send`: the note's id, to send it again with `noteId` without risking a second email. */
  noteId?: string;
  /** The server's `Retry-After`, in milliseconds. */
  retryAfterMs?: number;
  cause?: unknown;
}

/** Runs a storage call: a rejection becomes `storage_failed` (a NotepipeError is passed on as it is). */
export async function storageCall<T>(operation: () => Promise<T>): Promise<T> {
  try {
    return await operation();
  } catch (cause) {
    if (cause instanceof NotepipeError) throw cause;
    const name = (cause as { name?: unknown } | null)?.name;
    throw new NotepipeError("storage_failed", `The storage refused: ${String(name ?? cause)}.`, { cause });
  }
}

/**
 * @example
 * try {
 *   await send(client, note);
 * } catch (error) {
 *   if (error instanceof NotepipeError && error.code === "recipient_not_allowed") askForANewToken();
 *   else if (error instanceof NotepipeError && error.retryable) later(() => send(client, { ...note, noteId: error.noteId }));
 * }
 */
export class NotepipeError extends Error {
  // `declare`: set in the constructor only, so the bundle carries no field definitions besides.
  declare readonly code: NotepipeErrorCode;
  declare readonly status: number | undefined;
  declare readonly retryable: boolean;
  declare readonly noteId: string | undefined;
  declare readonly retryAfterMs: number | undefined;

  constructor(code: NotepipeErrorCode, message: string, details: NotepipeErrorDetails = {}) {
    super(message, { cause: details.cause });
    this.name = "NotepipeError";
    this.code = code;
    this.status = details.status;
    this.retryable = details.retryable ?? false;
    this.noteId = details.noteId;
    this.retryAfterMs = details.retryAfterMs;
  }
}
