import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { type DecodeResult, decodeFrame, encodeFrame, FRAME_ERROR_CODES } from "../src/index.ts";
import { frameInput } from "./arbitraries.ts";

/** ok, or a known code with a message: the only two shapes a caller has to handle. */
function expectWellFormed(result: DecodeResult): void {
  if (result.ok) return;
  expect(FRAME_ERROR_CODES).toContain(result.error);
  expect(result.message).toMatch(/^[A-Z].*\.$/);
}

/** Byte edits of a valid frame: overwrite, cut, or both, anywhere. */
const mutatedFrame = frameInput.chain((input) => {
  const frame = encodeFrame(input);
  return fc
    .record({
      writes: fc.array(fc.tuple(fc.nat(frame.length - 1), fc.integer({ min: 0, max: 255 })), { maxLength: 4 }),
      cut: fc.option(fc.nat(frame.length), { nil: undefined }),
      tail: fc.uint8Array({ maxLength: 8 }),
    })
    .map(({ writes, cut, tail }) => {
      const bytes = new Uint8Array([...frame.subarray(0, cut ?? frame.length), ...tail]);
      for (const [at, value] of writes) if (at < bytes.length) bytes[at] = value;
      return bytes;
    });
});

describe("decodeFrame on arbitrary input", () => {
  it("returns exactly what encodeFrame was given", () => {
    fc.assert(
      fc.property(frameInput, (input) => {
        expect(decodeFrame(encodeFrame(input))).toEqual({ ok: true, frame: input });
      }),
    );
  });

  it("never throws on random bytes and answers ok or a known code", () => {
    const header = fc.constantFrom(Uint8Array.of(), Uint8Array.of(0x4e, 0x50), Uint8Array.of(0x4e, 0x50, 1, 0));
    fc.assert(
      fc.property(header, fc.uint8Array({ maxLength: 400 }), (prefix, rest) => {
        expectWellFormed(decodeFrame(new Uint8Array([...prefix, ...rest])));
      }),
      { numRuns: 1000 },
    );
  });

  it("never throws on mutated valid frames, and whatever it accepts is exactly what encodeFrame writes", () => {
    fc.assert(
      fc.property(mutatedFrame, (bytes) => {
        const result = decodeFrame(bytes);
        expectWellFormed(result);
        // Frame v1 has one encoding per value: an accepted frame re-encodes to the same bytes.
        if (result.ok) expect(encodeFrame(result.frame)).toEqual(bytes);
      }),
      { numRuns: 1000 },
    );
  });

  it("returns views that share the input's buffer wherever the input sits in it", () => {
    fc.assert(
      fc.property(frameInput, fc.nat(64), fc.nat(64), (input, before, after) => {
        const frame = encodeFrame(input);
        const buffer = new Uint8Array(before + frame.length + after);
        buffer.set(frame, before);

        const result = decodeFrame(buffer.subarray(before, before + frame.length));
        if (!result.ok) throw new Error(result.message);
        const { noteId, nonce, ciphertext } = result.frame;
        const nonceAt = before + 22 + input.recipient.length;
        for (const view of [noteId, nonce, ciphertext]) expect(view.buffer).toBe(buffer.buffer);
        expect([noteId.byteOffset, nonce.byteOffset, ciphertext.byteOffset]).toEqual([
          before + 4,
          nonceAt,
          nonceAt + 12,
        ]);
        expect(ciphertext.length).toBe(input.ciphertext.length);
      }),
    );
  });
});
