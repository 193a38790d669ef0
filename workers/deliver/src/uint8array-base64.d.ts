/**
 * `Uint8Array.prototype.toBase64` and `Uint8Array.fromBase64` (TC39 "Uint8Array to/from base64",
 * ES2026) are built into workerd and do the whole conversion natively, where a JavaScript loop would
 * build a string byte by byte: a full batch is 100 × 64 KiB. TypeScript 5.9's libs do not declare
 * them yet.
 */
interface Uint8Array {
  toBase64(options?: { alphabet?: "base64" | "base64url"; omitPadding?: boolean }): string;
}

interface Uint8ArrayConstructor {
  fromBase64(
    text: string,
    options?: { alphabet?: "base64" | "base64url"; lastChunkHandling?: "loose" | "strict" | "stop-before-partial" },
  ): Uint8Array<ArrayBuffer>;
}
