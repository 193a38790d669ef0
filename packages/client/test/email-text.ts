/** What the sender's side and the error checks of the decrypt and key tests share. */

import { NotepipeError } from "../src/index.ts";

/**
 * The email text for `plaintext` under `key`, as deliver writes it: the nonce, a newline, the
 * ciphertext, both standard base64. What a recipient pastes into `decrypt`.
 */
export async function emailTextFor(key: CryptoKey, plaintext: Uint8Array<ArrayBuffer> | string): Promise<string> {
  const nonce = crypto.getRandomValues(new Uint8Array(12));
  const bytes = typeof plaintext === "string" ? new TextEncoder().encode(plaintext) : plaintext;
  const ciphertext = await crypto.subtle.encrypt({ name: "AES-GCM", iv: nonce }, key, bytes);
  return `${Buffer.from(nonce).toString("base64")}\n${Buffer.from(ciphertext).toString("base64")}`;
}

/** The code of the NotepipeError `promise` rejects with; fails the test on anything else. */
export async function codeOf(promise: Promise<unknown>): Promise<string> {
  const error = await promise.then(
    () => undefined,
    (error: unknown) => error,
  );
  if (!(error instanceof NotepipeError)) throw new Error(`Expected a NotepipeError, got ${String(error)}`);
  return error.code;
}
