/**
 * Frame v1: the binary envelope a client posts to ingest and the queue carries to deliver.
 * The layout and the order of the checks are pinned in ../SPEC.md. This file is the ingest hot path:
 * decodeFrame allocates nothing but the result object, four subarray views (one only to check the
 * recipient) and the recipient string.
 */

import { recipientProblem } from "./recipient.ts";

export const FRAME_MAGIC_0 = 0x4e; // "N"
export const FRAME_MAGIC_1 = 0x50; // "P"
export const FRAME_VERSION = 1;
export const NOTE_ID_BYTES = 16;
export const NONCE_BYTES = 12;
/** AES-GCM's tag is 16 bytes; a frame must carry at least one byte of ciphertext on top of it. */
export const MIN_CIPHERTEXT_BYTES = 17;
export const MIN_RECIPIENT_BYTES = 3;
export const MAX_RECIPIENT_BYTES = 254;
/** Queues caps a message at 128 KB; 64 KiB leaves room for the envelope and the accepted-at time. */
export const MAX_FRAME_BYTES = 65_536;
/** magic(2) + version(1) + flags(1) + note id(16) + recipient length(2). */
export const FIXED_HEADER_BYTES = 22;
/**
 * The shortest address the recipient rule accepts is 5 bytes, "a@b.c": the domain needs two labels,
 * so a 3- or 4-byte recipient passes the length check and then fails the rule.
 */
export const MIN_VALID_RECIPIENT_BYTES = 5;
/** The smallest frame that can be valid: header, "a@b.c", nonce, 17 bytes of ciphertext = 56. */
export const MIN_FRAME_BYTES = FIXED_HEADER_BYTES + MIN_VALID_RECIPIENT_BYTES + NONCE_BYTES + MIN_CIPHERTEXT_BYTES;

/** Every code decodeFrame can return; SPEC.md, "Error codes", says what each means. */
export const FRAME_ERROR_CODES = [
  "bad_magic",
  "unsupported_version",
  "unsupported_flags",
  "truncated",
  "bad_recipient",
  "empty_ciphertext",
  "frame_too_large",
] as const;

export type FrameErrorCode = (typeof FRAME_ERROR_CODES)[number];

export interface Frame {
  /** 16 bytes, a view into the decoded buffer. */
  noteId: Uint8Array;
  /** The validated ASCII address, as sent (not lowercased). */
  recipient: string;
  /** 12 bytes, a view into the decoded buffer. */
  nonce: Uint8Array;
  /** Ciphertext with its 16-byte tag, a view into the decoded buffer. */
  ciphertext: Uint8Array;
}

export type DecodeResult = { ok: true; frame: Frame } | { ok: false; error: FrameErrorCode; message: string };

export interface FrameInput {
  noteId: Uint8Array;
  recipient: string;
  nonce: Uint8Array;
  ciphertext: Uint8Array;
}

/** Thrown by {@link encodeFrame} only: a client handing it bad input is a programming error. */
export class FrameError extends Error {
  readonly code: FrameErrorCode;
  constructor(code: FrameErrorCode, message: string) {
    super(message);
    this.name = "FrameError";
    this.code = code;
  }
}

// Created on the first decode, not at import: Hermes (React Native before 0.85) has no TextDecoder
// (facebook/hermes#1403), and clients there import this module for encodeFrame. UTF-8 is the one
// label every TextDecoder and polyfill supports, and it is exact on the ASCII the rule lets through.
let recipientDecoder: TextDecoder | undefined;

function fail(error: FrameErrorCode, message: string): DecodeResult {
  return { ok: false, error, message };
}

/**
 * Decodes and validates one frame. Never throws: every defect is a result with a code. Fields are
 * checked in layout order, each as soon as all its bytes are present (SPEC.md, "Decoding"), so a
 * frame with several defects always reports the same one.
 * The returned views share `bytes`' buffer; copy them if the buffer will be reused.
 *
 * @example
 * const result = decodeFrame(new Uint8Array(await request.arrayBuffer()));
 * if (!result.ok) return error(400, result.error, result.message);
 * result.frame.recipient; // "ada@example.com"
 */
export function decodeFrame(bytes: Uint8Array): DecodeResult {
  const length = bytes.length;
  if (length > MAX_FRAME_BYTES) {
    return fail("frame_too_large", `A frame is at most ${MAX_FRAME_BYTES} bytes; this one has ${length}.`);
  }
  if (length < 2) return fail("truncated", "The frame ends before its magic bytes.");
  if (bytes[0] !== FRAME_MAGIC_0 || bytes[1] !== FRAME_MAGIC_1) {
    return fail("bad_magic", 'The frame does not start with the magic bytes "NP" (0x4E 0x50).');
  }
  if (length < 3) return fail("truncated", "The frame ends before its version byte.");
  if (bytes[2] !== FRAME_VERSION) {
    return fail("unsupported_version", `Frame version ${bytes[2]} is not supported; this server reads version 1.`);
  }
  if (length < 4) return fail("truncated", "The frame ends before its flags byte.");
  if (bytes[3] !== 0) {
    return fail("unsupported_flags", "Frame version 1 defines no flags; the flags byte must be 0x00.");
  }
  if (length < FIXED_HEADER_BYTES) return fail("truncated", "The frame ends inside its 22-byte header.");

  const recipientLength = ((bytes[20] as number) << 8) | (bytes[21] as number);
  if (recipientLength < MIN_RECIPIENT_BYTES || recipientLength > MAX_RECIPIENT_BYTES) {
    return fail(
      "bad_recipient",
      `The recipient length must be between ${MIN_RECIPIENT_BYTES} and ${MAX_RECIPIENT_BYTES} bytes; it is ${recipientLength}.`,
    );
  }
  const nonceStart = FIXED_HEADER_BYTES + recipientLength;
  if (length < nonceStart) return fail("truncated", "The frame ends inside its recipient.");
  const recipientBytes = bytes.subarray(FIXED_HEADER_BYTES, nonceStart);
  const problem = recipientProblem(recipientBytes);
  if (problem !== null) return fail("bad_recipient", problem);

  const ciphertextStart = nonceStart + NONCE_BYTES;
  if (length < ciphertextStart) return fail("truncated", "The frame ends inside its 12-byte nonce.");

  if (length - ciphertextStart < MIN_CIPHERTEXT_BYTES) {
    return fail(
      "empty_ciphertext",
      `The ciphertext must be at least ${MIN_CIPHERTEXT_BYTES} bytes (its 16-byte AES-GCM tag and at least one byte); it is ${length - ciphertextStart}.`,
    );
  }

  if (recipientDecoder === undefined) recipientDecoder = new TextDecoder();
  return {
    ok: true,
    frame: {
      noteId: bytes.subarray(4, 4 + NOTE_ID_BYTES),
      recipient: recipientDecoder.decode(recipientBytes),
      nonce: bytes.subarray(nonceStart, ciphertextStart),
      ciphertext: bytes.subarray(ciphertextStart),
    },
  };
}

/**
 * Builds a frame for a client. Throws {@link FrameError} on input that {@link decodeFrame} would refuse.
 *
 * @example
 * const frame = encodeFrame({ noteId, recipient: "ada@example.com", nonce, ciphertext });
 * await fetch(url, { method: "POST", body: frame, headers: { "content-type": "application/octet-stream" } });
 */
export function encodeFrame(input: FrameInput): Uint8Array {
  const { noteId, recipient, nonce, ciphertext } = input;
  if (noteId.length !== NOTE_ID_BYTES) {
    throw new RangeError(`The note id must be ${NOTE_ID_BYTES} bytes; it is ${noteId.length}.`);
  }
  if (nonce.length !== NONCE_BYTES) {
    throw new RangeError(`The nonce must be ${NONCE_BYTES} bytes; it is ${nonce.length}.`);
  }
  const recipientLength = recipient.length;
  if (recipientLength < MIN_RECIPIENT_BYTES || recipientLength > MAX_RECIPIENT_BYTES) {
    throw new FrameError(
      "bad_recipient",
      `The recipient must be ${MIN_RECIPIENT_BYTES} to ${MAX_RECIPIENT_BYTES} characters; it has ${recipientLength}.`,
    );
  }
  const recipientBytes = new Uint8Array(recipientLength);
  for (let i = 0; i < recipientLength; i++) {
    const code = recipient.charCodeAt(i);
    // Non-ASCII is refused below; 0xff keeps it from aliasing onto a valid byte.
    recipientBytes[i] = code > 0x7f ? 0xff : code;
  }
  const problem = recipientProblem(recipientBytes);
  if (problem !== null) throw new FrameError("bad_recipient", problem);
  if (ciphertext.length < MIN_CIPHERTEXT_BYTES) {
    throw new FrameError(
      "empty_ciphertext",
      `The ciphertext must be at least ${MIN_CIPHERTEXT_BYTES} bytes; it is ${ciphertext.length}.`,
    );
  }
  const total = FIXED_HEADER_BYTES + recipientLength + NONCE_BYTES + ciphertext.length;
  if (total > MAX_FRAME_BYTES) {
    throw new FrameError("frame_too_large", `A frame is at most ${MAX_FRAME_BYTES} bytes; this one would be ${total}.`);
  }

  const out = new Uint8Array(total);
  out[0] = FRAME_MAGIC_0;
  out[1] = FRAME_MAGIC_1;
  out[2] = FRAME_VERSION;
  out[3] = 0;
  out.set(noteId, 4);
  out[20] = recipientLength >> 8;
  out[21] = recipientLength & 0xff;
  out.set(recipientBytes, FIXED_HEADER_BYTES);
  out.set(nonce, FIXED_HEADER_BYTES + recipientLength);
  out.set(ciphertext, FIXED_HEADER_BYTES + recipientLength + NONCE_BYTES);
  return out;
}
