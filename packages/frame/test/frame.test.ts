import { describe, expect, it, vi } from "vitest";
import {
  decodeFrame,
  encodeFrame,
  FrameError,
  type FrameErrorCode,
  MAX_FRAME_BYTES,
  MIN_FRAME_BYTES,
  uuidToNoteId,
} from "../src/index.ts";

const NOTE_ID = uuidToNoteId("3b241101-e2bb-4255-8caf-4136c566a962");
const NONCE = Uint8Array.from({ length: 12 }, (_, i) => 0x10 + i);

function ascii(text: string): Uint8Array {
  return Uint8Array.from(text, (c) => c.charCodeAt(0));
}

function ciphertextOf(length: number): Uint8Array {
  return Uint8Array.from({ length }, (_, i) => (i * 7) & 0xff);
}

interface RawOptions {
  ciphertextLength?: number;
  lengthField?: number;
  magic?: number[];
  version?: number;
  flags?: number;
}

/** The v1 layout with no checks at all, so a test can put any bytes in any field. */
function rawFrame(recipient: string | Uint8Array, options: RawOptions = {}): Uint8Array {
  const recipientBytes = typeof recipient === "string" ? ascii(recipient) : recipient;
  const n = options.lengthField ?? recipientBytes.length;
  return Uint8Array.of(
    ...(options.magic ?? [0x4e, 0x50]),
    options.version ?? 1,
    options.flags ?? 0,
    ...NOTE_ID,
    n >> 8,
    n & 0xff,
    ...recipientBytes,
    ...NONCE,
    ...ciphertextOf(options.ciphertextLength ?? 17),
  );
}

function errorOf(bytes: Uint8Array): FrameErrorCode | "ok" {
  const result = decodeFrame(bytes);
  return result.ok ? "ok" : result.error;
}

function encodeErrorOf(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    return error instanceof FrameError ? error.code : (error as Error).name;
  }
  return "no error";
}

/** A frame of exactly `total` bytes to "ada@example.com" (15 bytes): 49 bytes before the ciphertext. */
function frameOfSize(total: number): Uint8Array {
  return rawFrame("ada@example.com", { ciphertextLength: total - 22 - 15 - 12 });
}

describe("decodeFrame", () => {
  it("reads every field of the v1 layout, with the recipient length big-endian", () => {
    const ciphertext = ciphertextOf(17);
    const bytes = Uint8Array.of(
      0x4e,
      0x50,
      0x01,
      0x00,
      ...NOTE_ID,
      0x00,
      0x05,
      ...ascii("a@b.c"),
      ...NONCE,
      ...ciphertext,
    );

    expect(decodeFrame(bytes)).toEqual({
      ok: true,
      frame: { noteId: NOTE_ID, recipient: "a@b.c", nonce: NONCE, ciphertext },
    });
    expect(bytes.length).toBe(MIN_FRAME_BYTES);
  });

  it("round-trips what encodeFrame wrote", () => {
    const input = {
      noteId: NOTE_ID,
      recipient: "Ada.Lovelace@Example.COM",
      nonce: NONCE,
      ciphertext: ciphertextOf(1600),
    };

    expect(decodeFrame(encodeFrame(input))).toEqual({ ok: true, frame: input });
  });

  it("returns each error code with a one-sentence message", () => {
    const cases: [FrameErrorCode, Uint8Array][] = [
      ["bad_magic", rawFrame("ada@example.com", { magic: [0x50, 0x4e] })],
      ["unsupported_version", rawFrame("ada@example.com", { version: 2 })],
      ["unsupported_flags", rawFrame("ada@example.com", { flags: 1 })],
      ["truncated", rawFrame("ada@example.com").subarray(0, 30)],
      ["bad_recipient", rawFrame("ada@localhost")],
      ["empty_ciphertext", rawFrame("ada@example.com", { ciphertextLength: 0 })],
      ["frame_too_large", frameOfSize(MAX_FRAME_BYTES + 1)],
    ];
    for (const [code, bytes] of cases) {
      const result = decodeFrame(bytes);
      expect(result).toEqual({ ok: false, error: code, message: expect.stringMatching(/^[A-Z].*\.$/) });
    }
  });

  const headerDefects: [string, RawOptions, FrameErrorCode][] = [
    ["version 0x00", { version: 0 }, "unsupported_version"],
    ["version 0x02", { version: 2 }, "unsupported_version"],
    ["version 0xFF", { version: 0xff }, "unsupported_version"],
    ["flags 0x01", { flags: 0x01 }, "unsupported_flags"],
    ["flags 0x80", { flags: 0x80 }, "unsupported_flags"],
    ['magic "np"', { magic: [0x6e, 0x70] }, "bad_magic"],
    ['magic "NQ"', { magic: [0x4e, 0x51] }, "bad_magic"],
  ];
  it.each(headerDefects)("refuses %s with %s", (_, options, code) => {
    expect(errorOf(rawFrame("ada@example.com", options))).toBe(code);
  });

  it("calls every prefix that ends before the nonce does truncated, then empty_ciphertext up to 16 ciphertext bytes", () => {
    const frame = rawFrame("ada@example.com"); // nonce ends at 22 + 15 + 12 = 49
    for (let length = 0; length < frame.length; length++) {
      expect([length, errorOf(frame.subarray(0, length))]).toEqual([
        length,
        length < 49 ? "truncated" : "empty_ciphertext",
      ]);
    }
    expect(errorOf(frame)).toBe("ok");
  });

  it.each([
    ["no @", "ada.example.com"],
    ["two @", "ada@lovelace@example.com"],
    ["an empty local part", "@example.com"],
    ["an empty domain", "ada@"],
    ["a leading dot", ".ada@example.com"],
    ["a trailing dot", "ada.@example.com"],
    ["a doubled dot", "ada..lovelace@example.com"],
    ["a label starting with a hyphen", "ada@-example.com"],
    ["a label ending with a hyphen", "ada@example-.com"],
    ["a one-label domain", "ada@localhost"],
    ["an empty label", "ada@example..com"],
    ["a trailing dot in the domain", "ada@example.com."],
    ["an underscore in the domain", "ada@my_host.example.com"],
    ["a space", "ada lovelace@example.com"],
    ["a quote", '"ada"@example.com'],
    ["a backslash", "ada\\x@example.com"],
    ["a line feed", "ada\n@example.com"],
    ["a NUL byte", "ada\0@example.com"],
    ["DEL", "ada\x7f@example.com"],
    ["a Latin-1 byte", "ad\u00e9@example.com"],
    ["a shortest 3-byte address, whose domain has one label", "a@b"],
  ])("refuses a recipient with %s as bad_recipient", (_, recipient) => {
    expect(errorOf(rawFrame(recipient))).toBe("bad_recipient");
  });

  it("refuses a recipient in UTF-8 that is not ASCII", () => {
    expect(errorOf(rawFrame(new TextEncoder().encode("adé@example.com")))).toBe("bad_recipient");
  });

  it("refuses a recipient length field outside 3..254 even before the recipient's bytes arrive", () => {
    const header = (lengthField: number) => rawFrame("", { lengthField, ciphertextLength: 0 }).subarray(0, 22);

    expect(errorOf(header(0))).toBe("bad_recipient");
    expect(errorOf(header(2))).toBe("bad_recipient");
    expect(errorOf(header(3))).toBe("truncated");
    expect(errorOf(header(254))).toBe("truncated");
    expect(errorOf(header(255))).toBe("bad_recipient");
    expect(errorOf(header(0x0f00))).toBe("bad_recipient"); // 15 written little-endian
  });

  it("checks the fields in layout order, so a frame with several defects reports the first", () => {
    const garbage = new Uint8Array(MAX_FRAME_BYTES + 1).fill(0xee);

    expect(errorOf(garbage)).toBe("frame_too_large");
    expect(errorOf(rawFrame("ada@localhost", { magic: [0, 0], version: 9, flags: 9 }))).toBe("bad_magic");
    expect(errorOf(rawFrame("ada@localhost", { version: 9, flags: 9 }))).toBe("unsupported_version");
    expect(errorOf(rawFrame("ada@localhost", { flags: 9 }))).toBe("unsupported_flags");
    expect(errorOf(rawFrame("ada@localhost", { ciphertextLength: 0 }))).toBe("bad_recipient");
    // A complete but invalid recipient is reported even though the nonce is cut short.
    expect(errorOf(rawFrame("ada@localhost").subarray(0, 22 + 13 + 5))).toBe("bad_recipient");
    // An incomplete recipient is not judged on its first bytes.
    expect(errorOf(rawFrame("a b@example.com").subarray(0, 25))).toBe("truncated");
    // A lone first byte is too short to judge the magic.
    expect(errorOf(Uint8Array.of(0x00))).toBe("truncated");
  });

  describe("boundaries", () => {
    it("accepts a 254-byte recipient and refuses a 255-byte one", () => {
      const longest = `${"l".repeat(64)}@${"a".repeat(63)}.${"b".repeat(63)}.${"c".repeat(61)}`;
      const tooLong = `${longest}c`;

      expect(longest.length).toBe(254);
      expect(decodeFrame(rawFrame(longest))).toMatchObject({ ok: true, frame: { recipient: longest } });
      expect(errorOf(rawFrame(tooLong))).toBe("bad_recipient");
    });

    it("accepts a 64-byte local part and refuses a 65-byte one", () => {
      expect(errorOf(rawFrame(`${"l".repeat(64)}@example.com`))).toBe("ok");
      expect(errorOf(rawFrame(`${"l".repeat(65)}@example.com`))).toBe("bad_recipient");
    });

    it("accepts a 63-byte domain label and refuses a 64-byte one", () => {
      expect(errorOf(rawFrame(`ada@${"a".repeat(63)}.com`))).toBe("ok");
      expect(errorOf(rawFrame(`ada@${"a".repeat(64)}.com`))).toBe("bad_recipient");
    });

    it("accepts a frame of 65,536 bytes and refuses one of 65,537", () => {
      expect(errorOf(frameOfSize(65_536))).toBe("ok");
      expect(errorOf(frameOfSize(65_537))).toBe("frame_too_large");
    });

    it("accepts 17 bytes of ciphertext and refuses 16 (a tag with nothing encrypted)", () => {
      expect(errorOf(rawFrame("ada@example.com", { ciphertextLength: 17 }))).toBe("ok");
      expect(errorOf(rawFrame("ada@example.com", { ciphertextLength: 16 }))).toBe("empty_ciphertext");
    });
  });

  it("returns views into the input's buffer, at the right offsets, without copying", () => {
    const frame = rawFrame("ada@example.com");
    const buffer = new Uint8Array(frame.length + 10);
    buffer.set(frame, 7);
    const input = buffer.subarray(7, 7 + frame.length);

    const result = decodeFrame(input);
    if (!result.ok) throw new Error(result.message);
    const { noteId, nonce, ciphertext } = result.frame;

    for (const view of [noteId, nonce, ciphertext]) expect(view.buffer).toBe(buffer.buffer);
    expect([noteId.byteOffset, nonce.byteOffset, ciphertext.byteOffset]).toEqual([7 + 4, 7 + 37, 7 + 49]);
    expect([noteId.length, nonce.length, ciphertext.length]).toEqual([16, 12, 17]);
    input[49] = 0xab;
    expect(ciphertext[0]).toBe(0xab);
  });
});

describe("encodeFrame", () => {
  const valid = { noteId: NOTE_ID, recipient: "ada@example.com", nonce: NONCE, ciphertext: ciphertextOf(17) };

  it("writes the v1 layout byte for byte", () => {
    expect(encodeFrame(valid)).toEqual(rawFrame("ada@example.com"));
  });

  it("writes a frame of exactly 65,536 bytes", () => {
    const frame = encodeFrame({ ...valid, ciphertext: ciphertextOf(65_536 - 49) });

    expect(frame.length).toBe(MAX_FRAME_BYTES);
    expect(frame).toEqual(frameOfSize(MAX_FRAME_BYTES));
  });

  it("throws a FrameError with the code decodeFrame would return", () => {
    expect(encodeErrorOf(() => encodeFrame({ ...valid, recipient: "ada@localhost" }))).toBe("bad_recipient");
    expect(encodeErrorOf(() => encodeFrame({ ...valid, recipient: "a@" }))).toBe("bad_recipient");
    expect(encodeErrorOf(() => encodeFrame({ ...valid, recipient: `${"l".repeat(64)}@${"d".repeat(190)}` }))).toBe(
      "bad_recipient",
    );
    expect(encodeErrorOf(() => encodeFrame({ ...valid, recipient: "adé@example.com" }))).toBe("bad_recipient");
    expect(encodeErrorOf(() => encodeFrame({ ...valid, ciphertext: ciphertextOf(16) }))).toBe("empty_ciphertext");
    expect(encodeErrorOf(() => encodeFrame({ ...valid, ciphertext: ciphertextOf(65_536 - 48) }))).toBe(
      "frame_too_large",
    );
  });

  it("refuses a character whose low byte would alias an ASCII one", () => {
    // U+0140 & 0xFF is "@": writing only the low byte would turn this into "ada@example.com".
    expect(encodeErrorOf(() => encodeFrame({ ...valid, recipient: "ada\u0140example.com" }))).toBe("bad_recipient");
  });

  it("works where there is no TextDecoder, as in React Native before 0.85", async () => {
    vi.stubGlobal("TextDecoder", undefined);
    vi.resetModules();
    try {
      const fresh = await import("../src/index.ts");
      expect(fresh.encodeFrame(valid)).toEqual(rawFrame("ada@example.com"));
    } finally {
      vi.unstubAllGlobals();
    }
  });

  it("throws a RangeError for a note id or nonce of the wrong length", () => {
    expect(encodeErrorOf(() => encodeFrame({ ...valid, noteId: NOTE_ID.subarray(0, 15) }))).toBe("RangeError");
    expect(encodeErrorOf(() => encodeFrame({ ...valid, nonce: new Uint8Array(16) }))).toBe("RangeError");
  });
});
