/**
 * `send`: seal a note (encrypt and frame it) and POST it to ingest, in memory and at once. For a
 * note that must survive no signal and an app that is killed, the outbox stores it first.
 */

import { uuidToNoteId } from "@notepipe/frame";
import type { ClientConfig } from "./config.ts";
import { NotepipeError } from "./errors.ts";
import { postFrame } from "./post-frame.ts";
import { type NoteContent, newNoteId, sealNote } from "./seal.ts";

export type NoteInput = NoteContent & {
  /** The client token for `to`, sent as `Authorization: Bearer <token>`. */
  token: string;
  /**
   * Only to send again a note whose earlier `send` ended in a retryable error (`error.noteId`):
   * under the same id it becomes at most one email.
   */
  noteId?: string;
};

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
    noteId = note.noteId === undefined ? newNoteId() : uuidToNoteId(note.noteId);
  } catch (cause) {
    throw new NotepipeError("bad_id", "noteId must be a note id as send returned it (a lowercase UUID).", { cause });
  }
  const { id, frame } = await sealNote(note, noteId);
  await postFrame(config, id, frame, note.token);
  await config.store?.put([{ id, state: "pending", acceptedAt: Date.now() }]);
  return id;
}
