import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { decrypt, decryptBytes, generateKey } from "../src/index.ts";
import { codeOf, emailTextFor } from "./email-text.ts";

const key = await generateKey();
const otherKey = await generateKey();

const note = "Meet me at the old oak at noon. Bring the map.";
const emailText = await emailTextFor(key, note);
const [nonceLine = "", ciphertextLine = ""] = emailText.split("\n");

describe("decrypt", () => {
  it("gives back the text of the note", async () => {
    expect(await decrypt(emailText, key)).toBe(note);
  });

  it("tolerates CRLF line ends, surrounding whitespace and a wrapped ciphertext line", async () => {
    const wrapped = ciphertextLine.replace(/(.{20})/g, "$1\r\n");
    for (const text of [
      `${nonceLine}\r\n${ciphertextLine}\r\n`,
      `  ${nonceLine}  \n${ciphertextLine} \t\n\n`,
      `${nonceLine}\r\n${wrapped}`,
    ]) {
      expect(await decrypt(text, key)).toBe(note);
    }
  });

  it("fails loudly with the wrong key", async () => {
    expect(await codeOf(decrypt(emailText, otherKey))).toBe("authentication_failed");
  });

  it("fails loudly on a tampered ciphertext, whichever bit was flipped", async () => {
    const ciphertext = Buffer.from(ciphertextLine, "base64");
    for (const at of [0, Math.floor(ciphertext.length / 2), ciphertext.length - 1]) {
      const tampered = Buffer.from(ciphertext);
      tampered[at] = (tampered[at] as number) ^ 0x01;
      expect(await codeOf(decrypt(`${nonceLine}\n${tampered.toString("base64")}`, key))).toBe("authentication_failed");
    }
  });

  it("fails loudly on another nonce", async () => {
    const nonce = Buffer.from(nonceLine, "base64");
    nonce[0] = (nonce[0] as number) ^ 0x80;
    expect(await codeOf(decrypt(`${nonce.toString("base64")}\n${ciphertextLine}`, key))).toBe("authentication_failed");
  });

  it.each([
    ["an empty text", ""],
    ["one line", `${nonceLine}${ciphertextLine}`],
    ["the lines swapped", `${ciphertextLine}\n${nonceLine}`],
    ["a cut ciphertext (not base64 any more)", `${nonceLine}\n${ciphertextLine.slice(0, -3)}`],
    ["a character that is not base64", `${nonceLine}\n${ciphertextLine.replace(/^./, "*")}`],
    ["a short nonce", `${nonceLine.slice(0, 12)}\n${ciphertextLine}`],
    ["a ciphertext shorter than the tag", `${nonceLine}\n${Buffer.alloc(16).toString("base64")}`],
    ["an HTML body", "<p>Hello</p>\n<p>World</p>"],
  ])("calls %s malformed", async (_name, text) => {
    expect(await codeOf(decrypt(text, key))).toBe("malformed_text");
  });

  it("says so when a note sent as bytes is not text, and decryptBytes returns them", async () => {
    const bytes = new Uint8Array([0xff, 0xfe, 0x00, 0x80]);
    const text = await emailTextFor(key, bytes);
    expect(await codeOf(decrypt(text, key))).toBe("not_text");
    expect(await decryptBytes(text, key)).toEqual(bytes);
  });

  it("lets a key without the decrypt usage fail as the programming error it is", async () => {
    const encryptOnly = await crypto.subtle.generateKey({ name: "AES-GCM", length: 256 }, false, ["encrypt"]);
    await expect(decrypt(emailText, encryptOnly)).rejects.toThrow(
      expect.not.objectContaining({ name: "NotepipeError" }),
    );
  });
});

describe("decrypt, properties", () => {
  it("opens any plaintext, however the two lines are spaced", async () => {
    const space = fc.constantFrom("", " ", "\t", "\r", "  \r");
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ minLength: 1, maxLength: 300 }), space, space, async (plaintext, a, b) => {
        const [nonce, ciphertext] = (await emailTextFor(key, new Uint8Array(plaintext))).split("\n");
        expect(await decryptBytes(`${a}${nonce}${b}\n${ciphertext}${a}`, key)).toEqual(plaintext);
      }),
      { numRuns: 100 },
    );
  });

  it("rejects any string that is not a note with a NotepipeError, never anything else", async () => {
    await fc.assert(
      fc.asyncProperty(fc.string({ maxLength: 200 }), async (text) => {
        expect(["malformed_text", "authentication_failed"]).toContain(await codeOf(decrypt(text, key)));
      }),
      { numRuns: 300 },
    );
  });

  it("rejects every one-character change of a real email text", async () => {
    const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=*-";
    await fc.assert(
      fc.asyncProperty(fc.nat({ max: emailText.length - 1 }), fc.constantFrom(...alphabet), async (at, replacement) => {
        fc.pre(emailText[at] !== replacement && emailText[at] !== "\n");
        const changed = emailText.slice(0, at) + replacement + emailText.slice(at + 1);
        expect(["malformed_text", "authentication_failed"]).toContain(await codeOf(decrypt(changed, key)));
      }),
      { numRuns: 300 },
    );
  });
});
