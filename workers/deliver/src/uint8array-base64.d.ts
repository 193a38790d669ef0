/**
 * `Uint8Array.prototype.toBase64` (TC39 "Uint8Array to/from base64", ES2026) is built into workerd
 * and does the whole conversion natively, where a JavaScript loop would build a string byte by
 * byte: a full batch is 100 × 64 KiB. TypeScript 5.9's libs do not declare it yet.
 */
interface Uint8Array {
  toBase64(options?: { alphabet?: "base64" | "base64url"; omitPadding?: boolean }): string;
}
