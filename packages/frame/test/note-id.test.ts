import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { isNoteUuid, noteIdToUuid, uuidToNoteId } from "../src/index.ts";

const noteId = fc.uint8Array({ minLength: 16, maxLength: 16 });

describe("noteIdToUuid", () => {
  it("spells the 16 bytes in order as lowercase 8-4-4-4-12 hex", () => {
    const id = Uint8Array.from({ length: 16 }, (_, i) => i * 17);

    expect(noteIdToUuid(id)).toBe("00112233-4455-6677-8899-aabbccddeeff");
  });

  it("needs no UUID version or variant bits: any 16 bytes are a note id", () => {
    expect(noteIdToUuid(new Uint8Array(16).fill(0xff))).toBe("ffffffff-ffff-ffff-ffff-ffffffffffff");
  });

  it("throws a RangeError for an id that is not 16 bytes", () => {
    expect(() => noteIdToUuid(new Uint8Array(15))).toThrow(RangeError);
    expect(() => noteIdToUuid(new Uint8Array(17))).toThrow(RangeError);
  });
});

describe("uuidToNoteId", () => {
  it("inverts noteIdToUuid for every id", () => {
    fc.assert(
      fc.property(noteId, (id) => {
        const uuid = noteIdToUuid(id);
        expect(isNoteUuid(uuid)).toBe(true);
        expect(uuidToNoteId(uuid)).toEqual(id);
        expect(noteIdToUuid(uuidToNoteId(uuid))).toBe(uuid);
      }),
    );
  });

  it("throws a RangeError for a string isNoteUuid refuses", () => {
    expect(() => uuidToNoteId("3B241101-E2BB-4255-8CAF-4136C566A962")).toThrow(RangeError);
  });
});

describe("isNoteUuid", () => {
  it("accepts a lowercase canonical UUID", () => {
    expect(isNoteUuid("3b241101-e2bb-4255-8caf-4136c566a962")).toBe(true);
    expect(isNoteUuid("00000000-0000-0000-0000-000000000000")).toBe(true);
  });

  it.each([
    ["uppercase", "3B241101-E2BB-4255-8CAF-4136C566A962"],
    ["one uppercase digit", "3b241101-e2bb-4255-8caf-4136c566a96A"],
    ["no hyphens", "3b241101e2bb42558caf4136c566a962"],
    ["braces", "{3b241101-e2bb-4255-8caf-4136c566a962}"],
    ["a URN", "urn:uuid:3b241101-e2bb-4255-8caf-4136c566a962"],
    ["hyphens in the wrong places", "3b24110-1e2bb-4255-8caf-4136c566a962"],
    ["a missing digit", "3b241101-e2bb-4255-8caf-4136c566a96"],
    ["an extra digit", "3b241101-e2bb-4255-8caf-4136c566a9620"],
    ["a non-hex letter", "3b241101-e2bb-4255-8caf-4136c566a96g"],
    ["a trailing newline", "3b241101-e2bb-4255-8caf-4136c566a962\n"],
    ["surrounding spaces", " 3b241101-e2bb-4255-8caf-4136c566a962 "],
    ["the empty string", ""],
  ])("refuses %s", (_, value) => {
    expect(isNoteUuid(value)).toBe(false);
  });

  it("refuses any string that is not exactly a noteIdToUuid spelling", () => {
    fc.assert(
      fc.property(noteId, fc.nat(35), fc.string({ minLength: 1, maxLength: 1 }), (id, at, c) => {
        const uuid = noteIdToUuid(id);
        const mutated = uuid.slice(0, at) + c + uuid.slice(at + 1);
        const stillCanonical = at !== 8 && at !== 13 && at !== 18 && at !== 23 && /^[0-9a-f]$/.test(c);
        expect(isNoteUuid(mutated)).toBe(stillCanonical || mutated === uuid);
      }),
    );
  });
});
