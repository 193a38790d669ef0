/** fast-check arbitraries for frame v1 inputs, written from the rule in SPEC.md, not from the codec. */

import fc from "fast-check";
import type { FrameInput } from "../src/index.ts";

const ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
export const LOCAL_SPECIALS = "!#$%&'*+/=?^_`{|}~-";

const alnum = fc.constantFrom(...ALNUM);
const localChar = fc.constantFrom(...ALNUM, ...LOCAL_SPECIALS);
const ldh = fc.constantFrom(...ALNUM, "-");

/** Dot-separated atoms, so there is never a leading, trailing or doubled dot. */
const localPart = fc
  .array(fc.string({ unit: localChar, minLength: 1, maxLength: 64 }), { minLength: 1, maxLength: 6 })
  .map((atoms) => atoms.join("."))
  .filter((local) => local.length <= 64);

/** 1 to 63 letters, digits and hyphens, starting and ending with a letter or digit. */
const label = fc.oneof(
  alnum,
  fc.tuple(alnum, fc.string({ unit: ldh, maxLength: 61 }), alnum).map(([first, middle, last]) => first + middle + last),
);

const domain = fc
  .array(label, { minLength: 2, maxLength: 6 })
  .map((labels) => labels.join("."))
  .filter((d) => d.length <= 253);

/** Any address the frame v1 recipient rule accepts, short ones and ones near every limit. */
export const validRecipient: fc.Arbitrary<string> = fc
  .tuple(localPart, domain)
  .map(([local, d]) => `${local}@${d}`)
  .filter((address) => address.length <= 254);

export const frameInput: fc.Arbitrary<FrameInput> = fc.record({
  noteId: fc.uint8Array({ minLength: 16, maxLength: 16 }),
  recipient: validRecipient,
  nonce: fc.uint8Array({ minLength: 12, maxLength: 12 }),
  ciphertext: fc.uint8Array({ minLength: 17, maxLength: 2048 }),
});
