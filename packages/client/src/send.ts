/**
 * `send`: encrypt a note, frame it (frame v1, packages/frame/SPEC.md) and POST it to ingest.
 */

import { encodeFrame, FrameError, noteIdToUuid, uuidToNoteId } from "@notepipe/frame";
import type { ClientConfig } from "./config.ts";
import { NotepipeError } from "./errors.ts";
import { request } from "./request.ts";

export type NoteInput = {
  /** The recipient's address; the token must have been issued for it. */
  to: string;
  /** An AES-256-GCM key with the `encrypt` usage (`generateKey`, `deriveKeyFromPassphrase`, …). */
  key: CryptoKey;
  /** The client token for `to`, sent as `Authorization: Bearer <token>`. */
  token: string;
  /**
   * Only to send again a note whose earlier `send` ended in a retryable error (`error.noteId`):
   * under the same id it becomes at most one email.
   */
  noteId?: string;
} & ({ text: string; bytes?: never } | { bytes: Uint8Array; text?: never });

/**
 * Encrypts the note with a fresh 12-byte nonce under a fresh 16-byte note id, frames it, and POSTs
 * it until ingest answers 202 (retrying network errors, 429 and 5xx with the same bytes: one email
 * at most); then records it in `config.store` as `pending`. Returns the note id.
 * Throws {@link NotepipeError}: the server's code for a 4xx (`recipient_not_allowed`, …), or a
 * retryable one (`network_error`, `rate_limited`, …) whose `noteId` a later `send` can reuse.
 *
 * @example
 * const id = await send({ endpoint: "https://notes.example.com" }, { to: "ada@example.com", text: "Noon, at the oak.", key, token });
 */
export async function send(config: ClientConfig, note: NoteInput): Promise<string> {
  let noteId: Uint8Array;
  try {
    noteId = note.noteId === undefined ? crypto.getRandomValues(new Uint8Array(16)) : uuidToNoteId(note.noteId);
  } catch (cause) {
    throw new NotepipeError("bad_id", "noteId must be a note id as send returned it (a lowercase UUID).", { cause });
  }
  const id = noteIdToUuid(noteId);
  const nonce = crypto.getRandomValues(new Uint8Array(12));
  const plaintext = note.text === undefined ? note.bytes.slice() : new TextEncoder().encode(note.text);
  const ciphertext = new Uint8Array(await crypto.subtle.encrypt({ name: "AES-GCM", iv: nonce }, note.key, plaintext));

  let frame: Uint8Array;
  try {
    frame = encodeFrame({ noteId, recipient: note.to, nonce, ciphertext });
  } catch (cause) {
    if (cause instanceof FrameError) throw new NotepipeError(cause.code, cause.message, { noteId: id, cause });
    throw cause;
  }

  await request(
    config,
    "/v1/notes",
    {
      method: "POST",
      headers: { "content-type": "application/octet-stream", authorization: `Bearer ${note.token}` },
      // encodeFrame allocates a plain ArrayBuffer; its declared type is only the wider ArrayBufferLike.
      body: frame as Uint8Array<ArrayBuffer>,
    },
    id,
  );
  await config.store?.put([{ id, state: "pending", acceptedAt: Date.now() }]);
  return id;
}
