/** What a client does in these tests: builds a frame with encodeFrame, signs a token, posts. */

import { env, exports } from "cloudflare:workers";
import { encodeFrame, noteIdToUuid } from "@notepipe/frame";
import { parseTokenSecrets, signClientToken } from "@notepipe/token";

export const BASE = "https://ingest.test";

export interface TestNote {
  frame: Uint8Array<ArrayBuffer>;
  id: string;
}

/** A valid frame for `recipient`, with a random note id and ciphertext of `ciphertextBytes`. */
export function makeNote(recipient: string, ciphertextBytes = 64): TestNote {
  const noteId = crypto.getRandomValues(new Uint8Array(16));
  const frame = encodeFrame({
    noteId,
    recipient,
    nonce: crypto.getRandomValues(new Uint8Array(12)),
    ciphertext: crypto.getRandomValues(new Uint8Array(ciphertextBytes)),
  });
  return { frame: frame as Uint8Array<ArrayBuffer>, id: noteIdToUuid(noteId) };
}

/** A token from the TOKEN_SECRETS that vitest.config.ts gives the Worker. */
export function tokenFor(recipient: string, kid = "k2026a"): Promise<string> {
  return signClientToken(parseTokenSecrets(env.TOKEN_SECRETS), kid, recipient);
}

export function postNote(body: BodyInit, init: { token?: string; headers?: Record<string, string> } = {}) {
  const headers: Record<string, string> = { "content-type": "application/octet-stream", ...init.headers };
  if (init.token !== undefined) headers.authorization = `Bearer ${init.token}`;
  return exports.default.fetch(`${BASE}/v1/notes`, { method: "POST", body, headers });
}
