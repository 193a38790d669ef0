/**
 * A queue message as deliver reads it, defensively: the body is whatever arrived, not what the
 * type says (an older or newer ingest, a hand-sent test message, a corrupted replay).
 */

import {
  decodeFrame,
  FRAME_MAGIC_0,
  FRAME_MAGIC_1,
  FRAME_VERSION,
  type Frame,
  NOTE_ID_BYTES,
  noteIdToUuid,
} from "@notepipe/frame";

export type DecodedMessage =
  | {
      ok: true;
      /** The note id, a UUID. */
      id: string;
      frame: Frame;
      bytes: Uint8Array;
      acceptedAt: number | null;
      replayedAt?: number;
    }
  | {
      ok: false;
      /** The note id when the bytes still carry one, else `msg-<queue message id>`. */
      id: string;
      /** Whether `id` is a note id, so that the note's status record can say what happened. */
      isNoteId: boolean;
      bytes: Uint8Array | null;
      acceptedAt: number | null;
      replayedAt?: number;
      problem: string;
    };

/** magic(2) + version(1) + flags(1) + the note id: enough to name the note. */
const NOTE_ID_END = 4 + NOTE_ID_BYTES;

/**
 * @example
 * const decoded = decodeMessage(message);
 * if (!decoded.ok) deadLetter(decoded.id, decoded.problem);
 */
export function decodeMessage(message: Message<unknown>): DecodedMessage {
  const body = message.body;
  const fallbackId = `msg-${message.id}`;
  if (typeof body !== "object" || body === null || !((body as { frame?: unknown }).frame instanceof Uint8Array)) {
    return {
      ok: false,
      id: fallbackId,
      isNoteId: false,
      bytes: null,
      acceptedAt: null,
      problem: "The message body is not a NoteMessage with a `frame` of bytes.",
    };
  }
  const {
    frame: bytes,
    acceptedAt,
    replayedAt,
  } = body as { frame: Uint8Array; acceptedAt?: unknown; replayedAt?: unknown };
  const times: { acceptedAt: number | null; replayedAt?: number } = {
    acceptedAt: typeof acceptedAt === "number" ? acceptedAt : null,
  };
  if (typeof replayedAt === "number") times.replayedAt = replayedAt;

  const decoded = decodeFrame(bytes);
  if (decoded.ok) return { ok: true, id: noteIdToUuid(decoded.frame.noteId), frame: decoded.frame, bytes, ...times };
  // Only a v1 header says where the note id is; another version may put it elsewhere.
  const isNoteId =
    bytes.length >= NOTE_ID_END &&
    bytes[0] === FRAME_MAGIC_0 &&
    bytes[1] === FRAME_MAGIC_1 &&
    bytes[2] === FRAME_VERSION;
  return {
    ok: false,
    id: isNoteId ? noteIdToUuid(bytes.subarray(4, NOTE_ID_END)) : fallbackId,
    isNoteId,
    bytes,
    ...times,
    problem: `${decoded.error}: ${decoded.message}`,
  };
}
