/**
 * The ingest Worker's public HTTP API, as its clients rely on it: the error codes with their status
 * and sentence, the status answers, and the limits a client must keep to. Ingest answers with these
 * and the client SDK (packages/client) reads them; README.md's error table is checked against
 * {@link INGEST_ERRORS} (test/ingest-api.test.ts).
 *
 * Consts and types only, and no side effect: the SDK imports the types, so its bundle carries none
 * of the sentences.
 */

import type { NoteState } from "./index.ts";

/** A Worker's error codes, each with its HTTP status and default sentence. */
export type ErrorTable = Readonly<Record<string, readonly [status: number, message: string]>>;

/**
 * Every `{"error": code, "message": sentence}` ingest answers, with its status and default sentence
 * (a route may give a more precise one). A new code is one line here.
 */
export const INGEST_ERRORS = {
  // Frame decode errors: decodeFrame's codes, with its message.
  bad_magic: [400, "The body is not a notepipe frame."],
  unsupported_version: [400, "This frame version is not supported."],
  unsupported_flags: [400, "This frame sets flags this server does not know."],
  truncated: [400, "The frame is truncated."],
  bad_recipient: [400, "The frame's recipient is not an address this service accepts."],
  empty_ciphertext: [400, "The frame carries no ciphertext."],
  frame_too_large: [413, "A frame is at most 65536 bytes."],
  // The HTTP API.
  bad_id: [400, "A note id is a lowercase canonical UUID (8-4-4-4-12 hex digits)."],
  bad_request: [400, 'The body must be JSON: {"ids": ["<note id>", …]}.'],
  body_too_large: [413, "The body is too large."],
  unauthorized: [401, "Send Authorization: Bearer <client token>."],
  recipient_not_allowed: [403, "This client token is not valid for the frame's recipient."],
  not_found: [404, "Nothing here."],
  method_not_allowed: [405, "This method is not allowed here."],
  unsupported_media_type: [415, "This Content-Type is not accepted here."],
  rate_limited: [429, "Too many notes for this token; retry after the Retry-After seconds."],
  internal_error: [500, "Something went wrong on our side."],
  rate_limiter_unavailable: [
    503,
    "The request could not be checked against its rate limit; retry after the Retry-After seconds.",
  ],
  queue_unavailable: [503, "The note could not be queued; retry after the Retry-After seconds."],
  // Enrollment (POST /v1/tokens/code, POST /v1/tokens).
  invalid_code: [400, "This enrollment code is wrong or has expired; ask for a new one."],
  enrollment_closed: [403, "This service does not enrol this address; ask its operator for a client token."],
  // ENROLLMENT = "domains" and an address elsewhere: its own code, so an app can say which address to use.
  domain_not_allowed: [403, "This service enrols addresses at its operator's domains only."],
  // TURNSTILE_SECRET_KEY set: POST /v1/tokens/code needs a Turnstile token siteverify accepts.
  turnstile_required: [400, "Send the Turnstile widget's token in the CF-Turnstile-Response header."],
  turnstile_failed: [403, "The Turnstile token did not verify (wrong, expired or used); solve the challenge again."],
  turnstile_unavailable: [503, "The Turnstile token could not be verified; retry after the Retry-After seconds."],
} as const satisfies ErrorTable;

export type IngestErrorCode = keyof typeof INGEST_ERRORS;

/** The body of every error answer, ingest's and deliver's alike. */
export interface ErrorBody<Code extends string = string> {
  error: Code;
  message: string;
}

/** `POST /v1/notes` answers 202 with this once the frame is queued. */
export interface AcceptedNote {
  id: string;
}

/** `POST /v1/tokens/code` answers 202 with this, whether or not the address ever enrolled. */
export interface CodeSent {
  status: "sent";
}

/** `POST /v1/tokens` answers 200 with the address's client token, and the address lowercased. */
export interface EnrolledToken {
  token: string;
  to: string;
}

/** `POST /v1/notes/status` takes at most this many ids: KV's bulk get reads 100 keys per operation. */
export const MAX_STATUS_IDS = 100;

/**
 * Where a status poll names the address of the client token it sends as `Authorization: Bearer`:
 * a token is a MAC over its address, so ingest can verify it only against that address. A poll
 * with a token that verifies is counted against the token's own allowance, not its network
 * address's (workers/ingest/README.md).
 */
export const TOKEN_ADDRESS_HEADER = "notepipe-to";

/** The body of `POST /v1/notes/status`: 1 to {@link MAX_STATUS_IDS} note ids. */
export interface NoteStatusQuery {
  ids: string[];
}

/**
 * One note's status, as `GET /v1/notes/:id` answers it and `POST /v1/notes/status` lists it: the
 * record deliver keeps minus what a client has no use for (provider id, next attempt). It carries
 * no address and no content.
 */
export type NoteStatus =
  | { id: string; state: NoteState; attempts: number; updatedAt: string; error?: string }
  /** No record (yet): deliver has not seen the note, the id is wrong, or the record expired (STATUS_TTL_SECONDS). */
  | { id: string; state: "unknown" };

/** `POST /v1/notes/status`'s answer: one entry per id asked, in the request's order. */
export interface NoteStatusList {
  notes: NoteStatus[];
}
