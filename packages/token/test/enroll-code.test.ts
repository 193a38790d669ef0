import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  CODE_STEP_MS,
  checkEnrollmentCode,
  enrollmentCodeExpiry,
  makeEnrollmentCode,
  parseEnrollSecrets,
} from "../src/index.ts";

const secrets = parseEnrollSecrets(JSON.stringify({ e2026a: "enroll-secret-e2026a-0123" }));
/** During a rotation: the new kid first (it signs), the old one still accepted. */
const rotating = parseEnrollSecrets(
  JSON.stringify({ e2026b: "enroll-secret-e2026b-0123", e2026a: "enroll-secret-e2026a-0123" }),
);
/** After the rotation: e2026a was removed. */
const rotated = parseEnrollSecrets(JSON.stringify({ e2026b: "enroll-secret-e2026b-0123" }));

/** 12:00:00 UTC, the start of a 10-minute step. */
const NOON = Date.parse("2026-12-01T12:00:00Z");
const MINUTE = 60_000;

describe("makeEnrollmentCode", () => {
  it("is six digits of HMAC-SHA256 over the step and the lowercased address", async () => {
    // Computed independently: printf 'notepipe-enroll-v1\n2993544\nada@example.com' | openssl dgst
    // -sha256 -hmac 'enroll-secret-e2026a-0123' -binary, its first 6 bytes big-endian, mod 10^6.
    expect(await makeEnrollmentCode(secrets, "Ada@Example.COM", NOON)).toBe("832106");
  });

  it("is the same code through one step and a new one in the next", async () => {
    const code = await makeEnrollmentCode(secrets, "ada@example.com", NOON);
    expect(await makeEnrollmentCode(secrets, "ada@example.com", NOON + CODE_STEP_MS - 1)).toBe(code);
    expect(await makeEnrollmentCode(secrets, "ada@example.com", NOON + CODE_STEP_MS)).not.toBe(code);
  });
});

describe("checkEnrollmentCode", () => {
  it("accepts a code for its address, in any case, for 10 to 20 minutes", async () => {
    const code = await makeEnrollmentCode(secrets, "ada@example.com", NOON + 9 * MINUTE);
    expect(await checkEnrollmentCode(secrets, "ADA@example.com", code, NOON + 9 * MINUTE)).toBe(true);
    expect(await checkEnrollmentCode(secrets, "ada@example.com", code, NOON + 19 * MINUTE)).toBe(true);
    expect(await checkEnrollmentCode(secrets, "ada@example.com", code, NOON + 20 * MINUTE)).toBe(false);
  });

  it("accepts a code made at the start of a step until 20 minutes later, never after", async () => {
    const code = await makeEnrollmentCode(secrets, "ada@example.com", NOON);
    expect(await checkEnrollmentCode(secrets, "ada@example.com", code, NOON + 20 * MINUTE - 1)).toBe(true);
    expect(await checkEnrollmentCode(secrets, "ada@example.com", code, NOON + 20 * MINUTE)).toBe(false);
  });

  it("says when a code stops being accepted: the end of the step after its own", async () => {
    const made = NOON + 4 * MINUTE;
    const code = await makeEnrollmentCode(secrets, "ada@example.com", made);
    const expiry = enrollmentCodeExpiry(made);
    expect(expiry).toBe(NOON + 20 * MINUTE);
    expect(await checkEnrollmentCode(secrets, "ada@example.com", code, expiry - 1)).toBe(true);
    expect(await checkEnrollmentCode(secrets, "ada@example.com", code, expiry)).toBe(false);
  });

  it("refuses a code from the future, a malformed one and one for another address", async () => {
    const code = await makeEnrollmentCode(secrets, "ada@example.com", NOON + CODE_STEP_MS);
    expect(await checkEnrollmentCode(secrets, "ada@example.com", code, NOON)).toBe(false);
    for (const bad of ["", "12345", "1234567", "12345a", " 832106", "８３２１０６"]) {
      expect(await checkEnrollmentCode(secrets, "ada@example.com", bad, NOON)).toBe(false);
    }
    const ada = await makeEnrollmentCode(secrets, "ada@example.com", NOON);
    expect(await checkEnrollmentCode(secrets, "grace@example.com", ada, NOON)).toBe(false);
  });

  it("accepts an old kid's code during a rotation and refuses it once the kid is removed", async () => {
    const old = await makeEnrollmentCode(secrets, "ada@example.com", NOON);
    expect(await checkEnrollmentCode(rotating, "ada@example.com", old, NOON)).toBe(true);
    expect(await checkEnrollmentCode(rotated, "ada@example.com", old, NOON)).toBe(false);
    const fresh = await makeEnrollmentCode(rotating, "ada@example.com", NOON);
    expect(await checkEnrollmentCode(rotated, "ada@example.com", fresh, NOON)).toBe(true);
  });

  it("never accepts a code for any address but the one it was made for", async () => {
    const address = fc
      .tuple(fc.stringMatching(/^[a-z0-9._+-]{1,20}$/), fc.stringMatching(/^[a-z0-9-]{1,12}\.[a-z]{2,6}$/))
      .map(([local, domain]) => `${local}@${domain}`);
    await fc.assert(
      fc.asyncProperty(address, address, fc.integer({ min: 0, max: 2 ** 41 }), async (owner, other, now) => {
        fc.pre(owner.toLowerCase() !== other.toLowerCase());
        const code = await makeEnrollmentCode(secrets, owner, now);
        expect(await checkEnrollmentCode(secrets, other, code, now)).toBe(false);
      }),
      // Six digits collide by design: another address's two valid codes match with odds of 2 in
      // 10^6 (the guess rate the verification limit bounds). A fixed seed keeps 500 random pairs
      // from turning that into a 1-in-1,000 flaky run; the pairs still differ per case.
      { numRuns: 500, seed: 15 },
    );
  });
});
