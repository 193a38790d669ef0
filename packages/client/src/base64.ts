/**
 * Standard base64 (RFC 4648 §4, padded) over btoa/atob, which browsers, workerd, Node and Hermes
 * (React Native ≥ 0.74) all have: the email text and the stored PBKDF2 salt use it.
 */

// atob admits missing padding and skips whitespace; checking the alphabet and the padding first
// makes a cut or mangled email a `malformed_text`, not a puzzling authentication failure.
const STRICT_BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

export function encodeBase64(bytes: Uint8Array): string {
  let binary = "";
  // Chunks keep String.fromCharCode's argument count far below engines' limits (~65k in V8).
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary);
}

/** Null when `text` is not canonical, padded base64. */
export function decodeBase64(text: string): Uint8Array<ArrayBuffer> | null {
  if (!STRICT_BASE64.test(text)) return null;
  const binary = atob(text);
  // The character before the padding has spare bits that atob ignores: "Zg==" and "Zh==" are both
  // "f". Only the canonical spelling passes, so that no altered text decodes at all.
  if (btoa(binary) !== text) return null;
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}
