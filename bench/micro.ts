/**
 * The hot path in process, on V8 (the engine workerd embeds), with mitata: what ingest does with a
 * note beside what the seed's naive relay does with the same note.
 *
 * - ingest: the calls workers/ingest/src/routes/post-note.ts makes per note, in its order:
 *   `parseTokenSecrets` (per request, it keeps its last result), `readClientToken`, `decodeFrame`
 *   (which validates the recipient) and `verifyClientToken`, awaited one note at a time as the Worker
 *   awaits it per request.
 * - own code: the synchronous part of the same path, everything notepipe wrote: the secrets lookup,
 *   `decodeFrame`, `readClientToken` (token shape and MAC decoding).
 * - verify: a bare awaited `crypto.subtle.verify` of the same HMAC with an imported key, the runtime's
 *   share. In Node, WebCrypto runs each call as a job on the libuv thread pool behind its WebIDL
 *   argument checks, tens of microseconds that workerd's verify (on the request's thread) need not pay.
 * - naive: `request.json()` (UTF-8 decode + `JSON.parse` of `{"to","nonce","ciphertext"}`, base64
 *   fields) then `JSON.stringify` of the Resend-style body, with the relay Worker's own function.
 *
 * Figures are the median of mitata's samples: a shared VM stalls now and then, and the mean follows.
 */

import { decodeFrame } from "@notepipe/frame";
import { parseTokenSecrets, readClientToken, verifyClientToken } from "@notepipe/token";
import { do_not_optimize, measure } from "mitata";
import { RECIPIENT, type SampleNote, TOKEN_KID, TOKEN_SECRETS_JSON } from "./sample-notes.ts";
import { relayBody } from "./workers/naive-relay.js";

export interface MicroRow {
  size: string;
  /** decodeFrame + verifyClientToken, awaited: ns per note. */
  ingestNs: number;
  /** The synchronous part of ingestNs: notepipe's own code. */
  ownCodeNs: number;
  /** A bare awaited crypto.subtle.verify: the runtime's part of ingestNs. */
  verifyNs: number;
  /** request.json() + JSON.stringify of the same note. */
  naiveNs: number;
  /** naive / ingest. */
  naiveOverIngest: number;
}

const utf8 = new TextDecoder();

async function ingestPath(frame: Uint8Array, token: string): Promise<void> {
  const secrets = parseTokenSecrets(TOKEN_SECRETS_JSON);
  const read = readClientToken(token, secrets);
  if (!read.ok) throw new Error(`sample token refused: ${read.problem}`);
  const decoded = decodeFrame(frame);
  if (!decoded.ok) throw new Error(`sample note refused: ${decoded.error}`);
  const verdict = await verifyClientToken(read.token, decoded.frame.recipient, secrets);
  if (!verdict.ok) throw new Error(`sample token refused: ${verdict.problem}`);
}

function ownCode(frame: Uint8Array, token: string): unknown {
  const secrets = parseTokenSecrets(TOKEN_SECRETS_JSON);
  const read = readClientToken(token, secrets);
  return read.ok ? decodeFrame(frame) : read;
}

function naivePath(body: Uint8Array): string {
  return relayBody(JSON.parse(utf8.decode(body)));
}

async function bareVerify(): Promise<() => Promise<boolean>> {
  const secret = parseTokenSecrets(TOKEN_SECRETS_JSON).get(TOKEN_KID) ?? "";
  const encoder = new TextEncoder();
  const key = await crypto.subtle.importKey("raw", encoder.encode(secret), { name: "HMAC", hash: "SHA-256" }, false, [
    "sign",
    "verify",
  ]);
  const data = encoder.encode(RECIPIENT.toLowerCase());
  const mac = await crypto.subtle.sign("HMAC", key, data);
  return () => crypto.subtle.verify("HMAC", key, mac, data);
}

export async function measureMicro(
  notes: readonly SampleNote[],
  progress: (message: string) => void,
): Promise<MicroRow[]> {
  const rows: MicroRow[] = [];
  const verify = await bareVerify();
  for (const note of notes) {
    progress(`micro ${note.size.label}`);
    const ingest = await measure(() => ingestPath(note.frame, note.token));
    const own = await measure(() => do_not_optimize(ownCode(note.frame, note.token)));
    const verifyAlone = await measure(verify);
    const naive = await measure(() => do_not_optimize(naivePath(note.naiveBody)));
    rows.push({
      size: note.size.label,
      ingestNs: ingest.p50,
      ownCodeNs: own.p50,
      verifyNs: verifyAlone.p50,
      naiveNs: naive.p50,
      naiveOverIngest: naive.p50 / ingest.p50,
    });
  }
  return rows;
}
