/**
 * A note sealed for sending: encrypted with AES-256-GCM under a fresh 12-byte nonce and framed
 * (frame v1, packages/frame/SPEC.md). `send` posts the frame at once, the outbox stores it first.
 */

import { encodeFrame, FrameError, noteIdToUuid } from "@notepipe/frame";
import { NotepipeError } from "./errors.ts";

/** What a note says: text, or bytes. */
export type NoteBody = { text: string; bytes?: never } | { bytes: Uint8Array; text?: never };

/** What a note is, before it has an id: the recipient, the key, and text or bytes. */
export type NoteContent = {
  /** The recipient's address; the token must have been issued for it. */
  to: string;
  /** An AES-256-GCM key with the `encrypt` usage (`generateKey`, `deriveKeyFromPassphrase`, …). */
  key: CryptoKey;
} & NoteBody;

/** The frame's bytes and the id inside them, as a lowercase UUID. */
export interface SealedNote {
  id: string;
  frame: Uint8Array<ArrayBuffer>;
}

/** A fresh random note id: 128 bits, the only key to the note's status. */
export function newNoteId(): Uint8Array {
  return crypto.getRandomValues(new Uint8Array(16));
}

/**
 * Throws {@link NotepipeError} with frame v1's code (`bad_recipient`, `empty_ciphertext`,
 * `frame_too_large`) for a note the frame cannot carry.
 */
export async function sealNote(note: NoteContent, noteId: Uint8Array): Promise<SealedNote> {
  const id = noteIdToUuid(noteId);
  const nonce = crypto.getRandomValues(new Uint8Array(12));
  const plaintext = note.text === undefined ? note.bytes.slice() : new TextEncoder().encode(note.text);
  const ciphertext = new Uint8Array(await crypto.subtle.encrypt({ name: "AES-GCM", iv: nonce }, note.key, plaintext));
  try {
    // encodeFrame allocates a plain ArrayBuffer; its declared type is only the wider ArrayBufferLike.
    const frame = encodeFrame({ noteId, recipient: note.to, nonce, ciphertext }) as Uint8Array<ArrayBuffer>;
    return { id, frame };
  } catch (cause) {
    if (cause instanceof FrameError) throw new NotepipeError(cause.code, cause.message, { noteId: id, cause });
    throw cause;
  }
}
