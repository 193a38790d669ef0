/**
 * The notes every part of the bench sends: one per size, built from fixed seeds, so that every run on
 * every machine measures the same bytes. The naive relay gets the same note as JSON with base64 fields.
 */

import { encodeFrame, FIXED_HEADER_BYTES, MAX_FRAME_BYTES, NONCE_BYTES, NOTE_ID_BYTES } from "@notepipe/frame";
import { DEV_TOKEN_SECRETS, parseTokenSecrets, signClientToken } from "@notepipe/token";

/** `TOKEN_SECRETS` as the Workers get it: the local stack's dev secret, never a real one. */
export const TOKEN_SECRETS_JSON = DEV_TOKEN_SECRETS;
export const TOKEN_KID = "dev";
export const RECIPIENT = "ada.lovelace@example.com";

export interface NoteSize {
  /** How tables and the chart name it. */
  label: string;
  /** The whole frame as posted to ingest. */
  frameBytes: number;
}

/** A short note, a long one, and the largest frame ingest accepts. */
export const NOTE_SIZES: readonly NoteSize[] = [
  { label: "1.6 KB", frameBytes: 1_600 },
  { label: "16 KB", frameBytes: 16_000 },
  { label: "64 KB", frameBytes: MAX_FRAME_BYTES },
];

export interface SampleNote {
  size: NoteSize;
  /** Frame v1, the body of `POST /v1/notes`. */
  frame: Uint8Array;
  /** `{"to","nonce","ciphertext"}` with base64 fields, UTF-8: the naive relay's body for the same note. */
  naiveBody: Uint8Array;
  /** `np1.…` for {@link RECIPIENT}. */
  token: string;
  /** `Bearer <token>`. */
  authorization: string;
}

/**
 * xorshift32: the bytes only have to be identical on every run, and encrypted bytes look like this.
 */
export function seededBytes(seed: number, length: number): Uint8Array {
  const out = new Uint8Array(length);
  let x = seed >>> 0 || 0x9e3779b9;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

export async function sampleNote(
  size: NoteSize,
  seed: number,
  recipient = RECIPIENT,
  tokenSecrets = TOKEN_SECRETS_JSON,
): Promise<SampleNote> {
  const ciphertextBytes = size.frameBytes - FIXED_HEADER_BYTES - recipient.length - NONCE_BYTES;
  const noteId = seededBytes(seed, NOTE_ID_BYTES);
  const nonce = seededBytes(seed + 1, NONCE_BYTES);
  const ciphertext = seededBytes(seed + 2, ciphertextBytes);
  const frame = encodeFrame({ noteId, recipient, nonce, ciphertext });
  const naive = {
    to: recipient,
    nonce: Buffer.from(nonce).toString("base64"),
    ciphertext: Buffer.from(ciphertext).toString("base64"),
  };
  // The dev secrets' kid, or the first kid of the secrets a stack runs with.
  const secrets = parseTokenSecrets(tokenSecrets);
  const kid = secrets.has(TOKEN_KID) ? TOKEN_KID : ([...secrets.keys()][0] ?? TOKEN_KID);
  const token = await signClientToken(secrets, kid, recipient);
  return {
    size,
    frame,
    naiveBody: new TextEncoder().encode(JSON.stringify(naive)),
    token,
    authorization: `Bearer ${token}`,
  };
}

export async function sampleNotes(seed: number): Promise<SampleNote[]> {
  return Promise.all(NOTE_SIZES.map((size, i) => sampleNote(size, seed + i * 16)));
}

/**
 * The same frame under another note id: the pipeline run needs distinct notes (deliver sends one email
 * per id). The id's first four bytes are the index, so ids never collide within a run.
 */
export function withNoteId(frame: Uint8Array, index: number): Uint8Array {
  const copy = frame.slice();
  new DataView(copy.buffer).setUint32(4, index);
  return copy;
}
