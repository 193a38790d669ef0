/**
 * The recipient's side: the email's text is `<base64 nonce>\n<base64 ciphertext>` (the deliver
 * Worker writes it; packages/frame/vectors/vectors.json has examples), and the key opens it.
 */

import { decodeBase64 } from "./base64.ts";
import { NotepipeError } from "./errors.ts";

const NONCE_BYTES = 12;
/** AES-GCM's 16-byte tag and at least one byte, as frame v1 requires. */
const MIN_CIPHERTEXT_BYTES = 17;

function malformed(message: string): NotepipeError {
  return new NotepipeError("malformed_text", message);
}

/**
 * Reads the two base64 lines. Tolerates what mail clients do to plain text: CRLF line ends,
 * whitespace around the text, and the ciphertext line wrapped (whitespace carries no base64 data).
 */
function parseEmailText(emailText: string): { nonce: Uint8Array<ArrayBuffer>; ciphertext: Uint8Array<ArrayBuffer> } {
  const text = emailText.trim();
  const lineEnd = text.indexOf("\n");
  if (lineEnd === -1) throw malformed("The text is not two lines: a base64 nonce, then the base64 ciphertext.");
  const nonce = decodeBase64(text.slice(0, lineEnd).trim());
  if (nonce === null || nonce.length !== NONCE_BYTES) {
    throw malformed(`The first line is not the base64 of a ${NONCE_BYTES}-byte nonce.`);
  }
  const ciphertext = decodeBase64(text.slice(lineEnd + 1).replace(/\s+/g, ""));
  if (ciphertext === null || ciphertext.length < MIN_CIPHERTEXT_BYTES) {
    throw malformed(`The rest is not the base64 of a ciphertext (at least ${MIN_CIPHERTEXT_BYTES} bytes).`);
  }
  return { nonce, ciphertext };
}

/**
 * Decrypts an email's text to the bytes that were sent. Throws {@link NotepipeError}:
 * `malformed_text` when the text is not a note's (cut, mangled), `authentication_failed` when the
 * key does not open it. AES-GCM cannot tell a wrong key from an altered ciphertext: both fail its
 * tag check, and either way nothing is returned.
 *
 * @example
 * const bytes = await decryptBytes(email.text, key);
 */
export async function decryptBytes(emailText: string, key: CryptoKey): Promise<Uint8Array<ArrayBuffer>> {
  const { nonce, ciphertext } = parseEmailText(emailText);
  try {
    return new Uint8Array(await crypto.subtle.decrypt({ name: "AES-GCM", iv: nonce }, key, ciphertext));
  } catch (cause) {
    // OperationError is the tag check; anything else (a key without "decrypt", not AES-GCM) is a bug.
    if ((cause as { name?: unknown }).name !== "OperationError") throw cause;
    throw new NotepipeError(
      "authentication_failed",
      "This key does not open this note: it is the wrong key (or passphrase), or the text was altered.",
      { cause },
    );
  }
}

/**
 * Decrypts an email's text to the note's text. Throws like {@link decryptBytes}, and `not_text` for
 * a note sent as bytes that are not UTF-8. Needs `TextDecoder` (React Native before 0.85: a polyfill,
 * or {@link decryptBytes}).
 *
 * @example
 * const text = await decrypt("05dpn4bTDFXwJ0V3\nqnGdEyARzsjZkev11FHtYSA=", key); // "x"
 */
export async function decrypt(emailText: string, key: CryptoKey): Promise<string> {
  const bytes = await decryptBytes(emailText, key);
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch (cause) {
    throw new NotepipeError("not_text", "The note decrypted to bytes that are not UTF-8 text.", { cause });
  }
}
