import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { CODE_PATTERN, enrollmentCodeMac, makeEnrollmentCode, readEnrollmentCode, sameMac } from "../src/index.ts";

const SECRET = "enroll-secret-e2026a-0123";

function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join("");
}

describe("makeEnrollmentCode", () => {
  it("makes 8 characters of Crockford's base32", () => {
    for (let i = 0; i < 200; i++) expect(makeEnrollmentCode()).toMatch(CODE_PATTERN);
  });

  it("uses every character of the alphabet in every position (40 random bits, no position fixed)", () => {
    const seen = Array.from({ length: 8 }, () => new Set<string>());
    // 2,000 codes: a character missing from a position by chance has odds of 32 × (31/32)^2000 ≈ 10^-26.
    for (let i = 0; i < 2000; i++) {
      const code = makeEnrollmentCode();
      for (let at = 0; at < 8; at++) seen[at]?.add(code[at] as string);
    }
    expect(seen.map((characters) => characters.size)).toEqual(Array(8).fill(32));
  });
});

describe("readEnrollmentCode", () => {
  it("reads a code as a person may type it", () => {
    expect(readEnrollmentCode("7KQ2M9XD")).toBe("7KQ2M9XD");
    expect(readEnrollmentCode("7kq2-m9xd")).toBe("7KQ2M9XD");
    expect(readEnrollmentCode(" 7KQ2 M9XD ")).toBe("7KQ2M9XD");
    // Crockford's decoding: O is 0, I and L are 1.
    expect(readEnrollmentCode("O1IL-ABCD")).toBe("0111ABCD");
  });

  it("refuses what cannot be a code", () => {
    for (const typed of ["", "123456", "7KQ2M9X", "7KQ2M9XDE", "7KQ2M9XU", "7KQ2M9X!", "７KQ2M9XD", "7".repeat(65)]) {
      expect(readEnrollmentCode(typed)).toBeUndefined();
    }
  });

  it("gives every code it reads the stored form, and reads every made code as itself", () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 80 }), (typed) => {
        const code = readEnrollmentCode(typed);
        if (code !== undefined) expect(code).toMatch(CODE_PATTERN);
      }),
    );
    for (let i = 0; i < 100; i++) {
      const code = makeEnrollmentCode();
      expect(readEnrollmentCode(code.toLowerCase())).toBe(code);
    }
  });
});

describe("enrollmentCodeMac", () => {
  it("is HMAC-SHA256 over the lowercased address and the code", async () => {
    // Computed independently: printf 'notepipe-enroll-v2\nada@example.com\n7KQ2M9XD' | openssl dgst
    // -sha256 -hmac 'enroll-secret-e2026a-0123' -hex
    expect(hex(await enrollmentCodeMac(SECRET, "Ada@Example.COM", "7KQ2M9XD"))).toBe(
      "67c0abc7cf9734c9152323177825acbc6e91d45d199c43d6f1e756dd3a21afa2",
    );
  });

  it("differs for another address, another code or another secret", async () => {
    const mac = await enrollmentCodeMac(SECRET, "ada@example.com", "7KQ2M9XD");
    expect(sameMac(mac, await enrollmentCodeMac(SECRET, "ada@example.com", "7KQ2M9XD"))).toBe(true);
    expect(sameMac(mac, await enrollmentCodeMac(SECRET, "grace@example.com", "7KQ2M9XD"))).toBe(false);
    expect(sameMac(mac, await enrollmentCodeMac(SECRET, "ada@example.com", "7KQ2M9XE"))).toBe(false);
    expect(sameMac(mac, await enrollmentCodeMac("another-secret", "ada@example.com", "7KQ2M9XD"))).toBe(false);
    expect(sameMac(mac, mac.slice(0, 31))).toBe(false);
  });
});
