import { describe, expect, it } from "vitest";
import {
  decrypt,
  deriveKeyFromPassphrase,
  exportKeyJwk,
  exportKeyRaw,
  generateKey,
  importKeyJwk,
  importKeyRaw,
  PBKDF2_MIN_ITERATIONS,
} from "../src/index.ts";
import { codeOf, emailTextFor } from "./email-text.ts";

describe("generated keys", () => {
  it("are extractable AES-256-GCM keys for encrypt and decrypt", async () => {
    const key = await generateKey();
    expect(key.algorithm).toEqual({ name: "AES-GCM", length: 256 });
    expect(key.extractable).toBe(true);
    expect([...key.usages].sort()).toEqual(["decrypt", "encrypt"]);
  });

  it("round-trip through raw bytes and through JWK to a key that opens the same notes", async () => {
    const key = await generateKey();
    const emailText = await emailTextFor(key, "Kept in the keychain.");

    const raw = await exportKeyRaw(key);
    const jwk = await exportKeyJwk(key);

    expect(raw).toHaveLength(32);
    expect(jwk).toMatchObject({ kty: "oct", alg: "A256GCM" });
    expect(await decrypt(emailText, await importKeyRaw(raw))).toBe("Kept in the keychain.");
    expect(await decrypt(emailText, await importKeyJwk(JSON.parse(JSON.stringify(jwk))))).toBe("Kept in the keychain.");
  });

  it("are refused when they are not AES-256", async () => {
    expect(await codeOf(importKeyRaw(new Uint8Array(16)))).toBe("bad_key");
    expect(await codeOf(importKeyJwk({ kty: "RSA" }))).toBe("bad_key");
    expect(await codeOf(importKeyJwk({ kty: "oct", alg: "A128GCM", k: "AAAAAAAAAAAAAAAAAAAAAA" }))).toBe("bad_key");
    expect(await codeOf(importKeyJwk({ kty: "oct", k: "AAAAAAAAAAAAAAAAAAAAAA" }))).toBe("bad_key");
  });
});

describe("deriveKeyFromPassphrase", () => {
  it("uses PBKDF2-SHA-256, 600,000 iterations and a random 16-byte salt, and returns them to store", async () => {
    const first = await deriveKeyFromPassphrase("correct horse battery staple");
    const second = await deriveKeyFromPassphrase("correct horse battery staple");

    expect(first.params).toEqual({
      algorithm: "PBKDF2",
      hash: "SHA-256",
      iterations: 600_000,
      salt: expect.any(String),
    });
    expect(Buffer.from(first.params.salt, "base64")).toHaveLength(16);
    expect(second.params.salt).not.toBe(first.params.salt);
    expect(first.key.algorithm).toEqual({ name: "AES-GCM", length: 256 });
    expect(first.key.extractable).toBe(false);
  });

  it("gives the same key again from the stored params, and the stored params unchanged", async () => {
    const { key, params } = await deriveKeyFromPassphrase("correct horse battery staple");
    const stored = JSON.parse(JSON.stringify(params));
    const emailText = await emailTextFor(key, "Derived twice.");

    const again = await deriveKeyFromPassphrase("correct horse battery staple", stored);

    expect(again.params).toEqual(params);
    expect(await decrypt(emailText, again.key)).toBe("Derived twice.");
  });

  it("normalises the passphrase, so é typed as one or two code points is one key", async () => {
    const { key, params } = await deriveKeyFromPassphrase("café au lait", {}, { extractable: true });
    const decomposed = await deriveKeyFromPassphrase("cafe\u0301 au lait", params, { extractable: true });
    expect(await exportKeyRaw(decomposed.key)).toEqual(await exportKeyRaw(key));
  });

  it("makes a wrong passphrase fail loudly at decryption", async () => {
    const { key, params } = await deriveKeyFromPassphrase("correct horse battery staple");
    const emailText = await emailTextFor(key, "Not for you.");
    const wrong = await deriveKeyFromPassphrase("correct horse battery stapler", params);

    expect(await codeOf(decrypt(emailText, wrong.key))).toBe("authentication_failed");
  });

  it("refuses fewer than 600,000 iterations, another hash, a short salt and an empty passphrase", async () => {
    expect(PBKDF2_MIN_ITERATIONS).toBe(600_000);
    const salt = Buffer.from(new Uint8Array(16)).toString("base64");
    expect(await codeOf(deriveKeyFromPassphrase("pass", { iterations: 599_999 }))).toBe("bad_key");
    expect(await codeOf(deriveKeyFromPassphrase("pass", { iterations: 6e5 + 0.5 }))).toBe("bad_key");
    expect(await codeOf(deriveKeyFromPassphrase("pass", { hash: "SHA-1" as "SHA-256", salt }))).toBe("bad_key");
    expect(await codeOf(deriveKeyFromPassphrase("pass", { salt: Buffer.from("short").toString("base64") }))).toBe(
      "bad_key",
    );
    expect(await codeOf(deriveKeyFromPassphrase("pass", { salt: "not base64!" }))).toBe("bad_key");
    expect(await codeOf(deriveKeyFromPassphrase(""))).toBe("bad_key");
  });
});
