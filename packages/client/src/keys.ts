/**
 * AES-256-GCM keys: generated, exported and imported (raw or JWK), or derived from a passphrase
 * with PBKDF2-SHA-256. WebCrypto only.
 */

import { decodeBase64, encodeBase64 } from "./base64.ts";
import { NotepipeError } from "./errors.ts";

const AES_GCM_256 = { name: "AES-GCM", length: 256 } as const;
const USAGES: KeyUsage[] = ["encrypt", "decrypt"];
const KEY_BYTES = 32;

/**
 * OWASP's figure for PBKDF2-HMAC-SHA256 (Password Storage Cheat Sheet, 2023): 600,000 iterations.
 * Derivations below it are refused, also when re-deriving from stored parameters.
 */
export const PBKDF2_MIN_ITERATIONS = 600_000;
/** A stored parameter set is data from disk; this bounds what a corrupted one can make us compute. */
export const PBKDF2_MAX_ITERATIONS = 100_000_000;
export const PBKDF2_SALT_BYTES = 16;

/**
 * How a key was derived from a passphrase: store it beside whatever the key protects (it is not
 * secret) and pass it back to {@link deriveKeyFromPassphrase} to get the same key again.
 */
export interface PassphraseParams {
  algorithm: "PBKDF2";
  hash: "SHA-256";
  iterations: number;
  /** Standard base64 of the random salt, 16 bytes unless the params came from elsewhere. */
  salt: string;
}

export interface KeyOptions {
  /** Whether the key can be exported again. Default: true for generated and imported keys. */
  extractable?: boolean;
}

/**
 * A new random AES-256-GCM key, extractable so that the app can store it (see {@link exportKeyJwk}).
 *
 * @example
 * const key = await generateKey();
 */
export function generateKey(options: KeyOptions = {}): Promise<CryptoKey> {
  return crypto.subtle.generateKey(AES_GCM_256, options.extractable ?? true, USAGES);
}

/** The key's 32 bytes. */
export async function exportKeyRaw(key: CryptoKey): Promise<Uint8Array<ArrayBuffer>> {
  return new Uint8Array(await crypto.subtle.exportKey("raw", key));
}

/**
 * @example
 * const key = await importKeyRaw(bytesFromTheKeychain);
 */
export async function importKeyRaw(bytes: Uint8Array, options: KeyOptions = {}): Promise<CryptoKey> {
  if (bytes.length !== KEY_BYTES) {
    throw new NotepipeError("bad_key", `An AES-256 key is ${KEY_BYTES} bytes; this one has ${bytes.length}.`);
  }
  // slice(): WebCrypto takes no view of a SharedArrayBuffer, which a plain Uint8Array may be.
  return crypto.subtle.importKey("raw", bytes.slice(), AES_GCM_256, options.extractable ?? true, USAGES);
}

/** `{"kty":"oct","alg":"A256GCM","k":…}`: JSON, for storage that holds strings. */
export function exportKeyJwk(key: CryptoKey): Promise<JsonWebKey> {
  return crypto.subtle.exportKey("jwk", key);
}

/**
 * @example
 * const key = await importKeyJwk(JSON.parse(localStorage.getItem("note-key")));
 */
export async function importKeyJwk(jwk: JsonWebKey, options: KeyOptions = {}): Promise<CryptoKey> {
  if (jwk.kty !== "oct" || (jwk.alg !== undefined && jwk.alg !== "A256GCM")) {
    throw new NotepipeError("bad_key", 'Expected an AES-256-GCM JWK ("kty":"oct", "alg":"A256GCM").');
  }
  let key: CryptoKey;
  try {
    key = await crypto.subtle.importKey("jwk", jwk, AES_GCM_256, options.extractable ?? true, USAGES);
  } catch (cause) {
    throw new NotepipeError("bad_key", "This JWK is not a valid AES-256-GCM key.", { cause });
  }
  // importKey ignores the requested length: a JWK without "alg" and 16 bytes of "k" is AES-128.
  if ((key.algorithm as AesKeyAlgorithm).length !== 256) {
    throw new NotepipeError("bad_key", "This JWK holds an AES key that is not 256 bits.");
  }
  return key;
}

/**
 * Derives an AES-256-GCM key from a passphrase with PBKDF2-SHA-256. Without `params`: a fresh random
 * 16-byte salt and {@link PBKDF2_MIN_ITERATIONS}. With the `params` returned earlier: the same key.
 * The passphrase is NFC-normalised first, so that "é" typed as one or as two code points (keyboards
 * differ) gives one key. Derived keys are not extractable unless asked: the passphrase is the backup.
 *
 * @example
 * const { key, params } = await deriveKeyFromPassphrase("correct horse battery staple");
 * localStorage.setItem("note-key-params", JSON.stringify(params));
 * // later, on another device:
 * const again = await deriveKeyFromPassphrase(passphrase, JSON.parse(localStorage.getItem("note-key-params")));
 */
export async function deriveKeyFromPassphrase(
  passphrase: string,
  params: Partial<PassphraseParams> = {},
  options: KeyOptions = {},
): Promise<{ key: CryptoKey; params: PassphraseParams }> {
  if (passphrase.length === 0) throw new NotepipeError("bad_key", "The passphrase is empty.");
  const { algorithm = "PBKDF2", hash = "SHA-256", iterations = PBKDF2_MIN_ITERATIONS } = params;
  if (algorithm !== "PBKDF2" || hash !== "SHA-256") {
    throw new NotepipeError("bad_key", "Only PBKDF2 with SHA-256 is supported.");
  }
  if (!Number.isInteger(iterations) || iterations < PBKDF2_MIN_ITERATIONS || iterations > PBKDF2_MAX_ITERATIONS) {
    throw new NotepipeError(
      "bad_key",
      `PBKDF2 needs ${PBKDF2_MIN_ITERATIONS} to ${PBKDF2_MAX_ITERATIONS} iterations; these params say ${iterations}.`,
    );
  }
  const salt =
    params.salt === undefined ? crypto.getRandomValues(new Uint8Array(PBKDF2_SALT_BYTES)) : decodeBase64(params.salt);
  if (salt === null || salt.length < PBKDF2_SALT_BYTES) {
    throw new NotepipeError("bad_key", `The salt must be base64 of at least ${PBKDF2_SALT_BYTES} bytes.`);
  }
  const material = await crypto.subtle.importKey(
    "raw",
    new TextEncoder().encode(passphrase.normalize("NFC")),
    "PBKDF2",
    false,
    ["deriveKey"],
  );
  const key = await crypto.subtle.deriveKey(
    { name: "PBKDF2", hash, salt, iterations },
    material,
    AES_GCM_256,
    options.extractable ?? false,
    USAGES,
  );
  return { key, params: { algorithm, hash, iterations, salt: encodeBase64(salt) } };
}
