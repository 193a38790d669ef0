import { readdirSync, readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { buildVectors, type VectorIndex } from "../scripts/generate-vectors.ts";
import { decodeFrame, encodeFrame, FRAME_ERROR_CODES, noteIdToUuid, uuidToNoteId } from "../src/index.ts";

const dir = new URL("../vectors/", import.meta.url);
const read = (file: string) => new Uint8Array(readFileSync(new URL(file, dir)));
const index = JSON.parse(readFileSync(new URL("vectors.json", dir), "utf8")) as VectorIndex;

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString("hex");
const fromHex = (text: string) => new Uint8Array(Buffer.from(text, "hex"));
const base64 = (bytes: Uint8Array) => Buffer.from(bytes).toString("base64");

async function sha256(bytes: Uint8Array<ArrayBuffer>): Promise<string> {
  return hex(new Uint8Array(await crypto.subtle.digest("SHA-256", bytes)));
}

async function aesGcmKey(keyHex: string): Promise<CryptoKey> {
  return crypto.subtle.importKey("raw", fromHex(keyHex), "AES-GCM", false, ["encrypt", "decrypt"]);
}

describe.each(index.valid)("valid vector $name", (vector) => {
  const bytes = read(vector.file);

  it("is the file its index entry describes", async () => {
    expect(bytes.length).toBe(vector.bytes);
    expect(await sha256(bytes)).toBe(vector.sha256);
  });

  it("decodes to its recorded fields", () => {
    const result = decodeFrame(bytes);
    if (!result.ok) throw new Error(`${result.error}: ${result.message}`);

    expect({
      noteId: noteIdToUuid(result.frame.noteId),
      recipient: result.frame.recipient,
      nonceHex: hex(result.frame.nonce),
      ciphertextHex: hex(result.frame.ciphertext),
    }).toEqual({
      noteId: vector.input.noteId,
      recipient: vector.input.recipient,
      nonceHex: vector.input.nonceHex,
      ciphertextHex: vector.output.ciphertextHex,
    });
  });

  it("is produced byte for byte by AES-256-GCM and encodeFrame from its recorded inputs", async () => {
    const { noteId, recipient, keyHex, nonceHex, plaintext } = vector.input;
    const nonce = fromHex(nonceHex);
    const key = await aesGcmKey(keyHex);
    const ciphertext = new Uint8Array(
      await crypto.subtle.encrypt({ name: "AES-GCM", iv: nonce }, key, new TextEncoder().encode(plaintext)),
    );

    expect(hex(ciphertext)).toBe(vector.output.ciphertextHex);
    expect(encodeFrame({ noteId: uuidToNoteId(noteId), recipient, nonce, ciphertext })).toEqual(bytes);
  });

  it("decrypts to its plaintext and gives the recorded email body", async () => {
    const { nonceHex, keyHex, plaintext } = vector.input;
    const nonce = fromHex(nonceHex);
    const ciphertext = fromHex(vector.output.ciphertextHex);
    const decrypted = await crypto.subtle.decrypt({ name: "AES-GCM", iv: nonce }, await aesGcmKey(keyHex), ciphertext);

    expect(new TextDecoder().decode(decrypted)).toBe(plaintext);
    expect(vector.output.emailText).toBe(`${base64(nonce)}\n${base64(ciphertext)}`);
  });
});

describe.each(index.invalid)("invalid vector $name", (vector) => {
  const bytes = read(vector.file);

  it(`is the file its index entry describes and fails with ${vector.error}`, async () => {
    expect(bytes.length).toBe(vector.bytes);
    expect(await sha256(bytes)).toBe(vector.sha256);
    expect(decodeFrame(bytes)).toMatchObject({ ok: false, error: vector.error });
  });
});

describe("the vector set", () => {
  it("has an invalid vector for every error code", () => {
    expect(new Set(index.invalid.map((v) => v.error))).toEqual(new Set(FRAME_ERROR_CODES));
  });

  it("covers the smallest frame, a typical and a 16 KiB note, the largest frame and the longest recipient", () => {
    const sizes = Object.fromEntries(index.valid.map((v) => [v.name, v.bytes]));
    const recipients = Object.fromEntries(index.valid.map((v) => [v.name, v.input.recipient.length]));

    expect(sizes).toMatchObject({ minimal: 56, "max-size": 65_536 });
    expect(recipients).toMatchObject({ minimal: 5, "longest-recipient": 254 });
    const plaintextBytes = (name: string) =>
      new TextEncoder().encode(index.valid.find((v) => v.name === name)?.input.plaintext).length;
    expect([plaintextBytes("typical-note"), plaintextBytes("note-16k")]).toEqual([1600, 16_384]);
  });

  it("on disk is exactly what scripts/generate-vectors.ts builds now", async () => {
    const { files } = await buildVectors();

    expect(readdirSync(dir).sort()).toEqual([...files.keys()].sort());
    for (const [name, bytes] of files) expect([name, hex(read(name))]).toEqual([name, hex(bytes)]);
  });

  it("stays small enough to commit", () => {
    const total = readdirSync(dir).reduce((sum, name) => sum + read(name).length, 0);

    expect(total).toBeLessThan(600_000);
  });
});
