/**
 * The shared frame vectors (packages/frame/vectors) from the client's side: `send`, given each
 * vector's key, note id and nonce in place of fresh random ones, posts exactly the vector's bytes;
 * and `decrypt` opens each vector's email text.
 */

import { readFileSync } from "node:fs";
import { uuidToNoteId } from "@notepipe/frame";
import { describe, expect, it, vi } from "vitest";
import { decrypt, importKeyRaw, send } from "../src/index.ts";
import { fakeIngest, json } from "./fake-ingest.ts";

interface ValidVector {
  name: string;
  file: string;
  input: { noteId: string; recipient: string; keyHex: string; nonceHex: string; plaintext: string };
  output: { ciphertextHex: string; emailText: string };
}

const dir = new URL("../../frame/vectors/", import.meta.url);
const index = JSON.parse(readFileSync(new URL("vectors.json", dir), "utf8")) as { valid: ValidVector[] };
const fromHex = (hex: string) => new Uint8Array(Buffer.from(hex, "hex"));

it("there are valid vectors to reproduce", () => {
  expect(index.valid.length).toBeGreaterThanOrEqual(7);
});

describe.each(index.valid)("valid vector $name", (vector) => {
  const key = importKeyRaw(fromHex(vector.input.keyHex));

  it("is what send posts, byte for byte, given its key, note id and nonce", async () => {
    // send draws the note id first, then the nonce; hand it the vector's instead.
    const draws = [uuidToNoteId(vector.input.noteId), fromHex(vector.input.nonceHex)];
    vi.spyOn(crypto, "getRandomValues").mockImplementation(<T extends ArrayBufferView | null>(array: T): T => {
      const next = draws.shift();
      if (next === undefined || !(array instanceof Uint8Array)) throw new Error("Unexpected draw of random values.");
      array.set(next);
      return array;
    });
    const ingest = fakeIngest([json(202, { id: vector.input.noteId })]);

    const id = await send(
      { endpoint: "https://ingest.test", fetch: ingest.fetch },
      { to: vector.input.recipient, text: vector.input.plaintext, key: await key, token: "np1.dev.x" },
    );

    expect(id).toBe(vector.input.noteId);
    expect(draws).toEqual([]);
    expect(ingest.requests[0]?.body).toEqual(new Uint8Array(readFileSync(new URL(vector.file, dir))));
  });

  it("has an email text that decrypt opens to its plaintext", async () => {
    expect(await decrypt(vector.output.emailText, await key)).toBe(vector.input.plaintext);
  });
});
