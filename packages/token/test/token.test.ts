import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { NP1_ISSUED_AT, parseTokenSecrets, readClientToken, signClientToken, verifyClientToken } from "../src/index.ts";

const secrets = parseTokenSecrets(
  JSON.stringify({ k2026a: "first-secret-0123456789", k2026b: "second-secret-0123456789" }),
);
/** k2025 was removed from TOKEN_SECRETS: its tokens must be refused. */
const retired = parseTokenSecrets(JSON.stringify({ k2025: "retired-secret-0123456789" }));

/** An np1 token (the first form, no issue time) as the last release issued it for ada@example.com. */
const NP1_TOKEN = "np1.k2026a.ygyn_SPcMFWdheT5U-o3y2gA_nxd2Riyf9GhYqnLq7g";

describe("signClientToken", () => {
  it("spells np2.<kid>.<issue time in seconds>.<43 base64url characters>", async () => {
    const token = await signClientToken(secrets, "k2026a", "ada@example.com", Date.UTC(2027, 0, 1, 12, 0, 0, 999));
    expect(token).toMatch(/^np2\.k2026a\.1798804800\.[A-Za-z0-9_-]{43}$/);
  });

  it('is HMAC-SHA256 of "np2", the issue time and the lowercased recipient, keyed by the secret\'s UTF-8 bytes', async () => {
    // Computed independently with: printf 'np2\n1796601600\nada@example.com' | openssl dgst -sha256 -hmac 'first-secret-0123456789' -binary | basenc --base64url | tr -d =
    const token = await signClientToken(secrets, "k2026a", "Ada@Example.COM", 1_796_601_600_000);
    expect(token).toBe("np2.k2026a.1796601600.Lm6Iz2z7eVwF_8DIc5IV_B6cgnZeNcoXzMrOQjv0zBY");
  });

  it("throws for a kid it has no secret for", async () => {
    await expect(signClientToken(secrets, "k1999", "ada@example.com")).rejects.toThrow(RangeError);
  });
});

describe("verifyClientToken", () => {
  it("accepts a token for its recipient", async () => {
    const token = await signClientToken(secrets, "k2026a", "ada@example.com");
    expect(await verifyClientToken(token, "ada@example.com", secrets)).toEqual({ ok: true, kid: "k2026a" });
  });

  it("accepts tokens of every current kid", async () => {
    const token = await signClientToken(secrets, "k2026b", "ada@example.com");
    expect(await verifyClientToken(token, "ada@example.com", secrets)).toEqual({ ok: true, kid: "k2026b" });
  });

  it("compares the recipient case-insensitively", async () => {
    const token = await signClientToken(secrets, "k2026a", "ada@example.com");
    expect(await verifyClientToken(token, "ADA@Example.Com", secrets)).toEqual({ ok: true, kid: "k2026a" });
  });

  it("still accepts an np1 token, read as issued on the day np2 tokens came in", async () => {
    // printf %s 'ada@example.com' | openssl dgst -sha256 -hmac 'first-secret-0123456789' -binary | basenc --base64url | tr -d =
    expect(await verifyClientToken(NP1_TOKEN, "ada@example.com", secrets)).toEqual({ ok: true, kid: "k2026a" });
    const read = readClientToken(NP1_TOKEN, secrets);
    expect(read.ok && read.token.issuedAt).toBe(NP1_ISSUED_AT);
    expect(new Date(NP1_ISSUED_AT * 1000).toISOString()).toBe("2026-12-07T00:00:00.000Z");
  });

  it("refuses a token whose issue time was changed", async () => {
    const token = await signClientToken(secrets, "k2026a", "ada@example.com", 1_796_601_600_000);
    const later = token.replace(".1796601600.", ".1796601601.");
    expect(await verifyClientToken(later, "ada@example.com", secrets)).toEqual({
      ok: false,
      problem: "wrong_recipient",
    });
  });

  it("refuses an np1 MAC given an issue time", async () => {
    const dressed = NP1_TOKEN.replace("np1.k2026a.", "np2.k2026a.1796601600.");
    expect(await verifyClientToken(dressed, "ada@example.com", secrets)).toEqual({
      ok: false,
      problem: "wrong_recipient",
    });
  });

  it("refuses a token issued for another recipient", async () => {
    const token = await signClientToken(secrets, "k2026a", "ada@example.com");
    expect(await verifyClientToken(token, "bob@example.com", secrets)).toEqual({
      ok: false,
      problem: "wrong_recipient",
    });
  });

  it("refuses a token whose kid was retired", async () => {
    const token = await signClientToken(retired, "k2025", "ada@example.com");
    expect(await verifyClientToken(token, "ada@example.com", secrets)).toEqual({ ok: false, problem: "unknown_kid" });
  });

  it("refuses a current kid paired with another kid's MAC", async () => {
    const token = await signClientToken(secrets, "k2026b", "ada@example.com");
    const swapped = token.replace("k2026b", "k2026a");
    expect(await verifyClientToken(swapped, "ada@example.com", secrets)).toEqual({
      ok: false,
      problem: "wrong_recipient",
    });
  });

  it("refuses a non-canonical spelling of a valid MAC", async () => {
    const token = await signClientToken(secrets, "k2026a", "ada@example.com");
    // The last character holds 2 padding bits; setting one spells the same 32 bytes differently.
    const last = token.at(-1) as string;
    const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    const variant = `${token.slice(0, -1)}${alphabet[alphabet.indexOf(last) | 1]}`;
    expect(variant).not.toBe(token);
    expect(await verifyClientToken(variant, "ada@example.com", secrets)).toEqual({ ok: false, problem: "malformed" });
  });

  it.each([
    ["empty", ""],
    ["no prefix", "k2026a.ygyn_SPcMFWdheT5U-o3y2gA_nxd2Riyf9GhYqnLq7g"],
    ["other version", "np3.k2026a.1796601600.Lm6Iz2z7eVwF_8DIc5IV_B6cgnZeNcoXzMrOQjv0zBY"],
    ["np2 without its issue time", "np2.k2026a.Lm6Iz2z7eVwF_8DIc5IV_B6cgnZeNcoXzMrOQjv0zBY"],
    ["np2 with an empty kid", "np2..1796601600.Lm6Iz2z7eVwF_8DIc5IV_B6cgnZeNcoXzMrOQjv0zBY"],
    ["an issue time with a leading zero", "np2.k2026a.01796601600.Lm6Iz2z7eVwF_8DIc5IV_B6cgnZeNcoXzMrOQjv0zBY"],
    ["an issue time that is not decimal", "np2.k2026a.1796601600e0.Lm6Iz2z7eVwF_8DIc5IV_B6cgnZeNcoXzMrOQjv0zBY"],
    ["an issue time of 13 digits", "np2.k2026a.1796601600000.Lm6Iz2z7eVwF_8DIc5IV_B6cgnZeNcoXzMrOQjv0zBY"],
    ["empty kid", "np1..ygyn_SPcMFWdheT5U-o3y2gA_nxd2Riyf9GhYqnLq7g"],
    ["dot in kid", "np1.k.2026a.ygyn_SPcMFWdheT5U-o3y2gA_nxd2Riyf9GhYqnLq7g"],
    ["short MAC", "np1.k2026a.ygyn_SPcMFWdheT5U-o3y2gA_nxd2Riyf9GhYqnLq7"],
    ["padded MAC", "np1.k2026a.ygyn_SPcMFWdheT5U-o3y2gA_nxd2Riyf9GhYqnLq7g="],
    ["standard base64 MAC", "np1.k2026a.ygyn_SPcMFWdheT5U-o3y2gA_nxd2Riyf9GhYqnLq7+"],
    ["non-ASCII MAC", "np1.k2026a.ygyn_SPcMFWdheT5U-o3y2gA_nxd2Riyf9GhYqnLq7ö"],
    ["kid too long", `np1.${"k".repeat(33)}.ygyn_SPcMFWdheT5U-o3y2gA_nxd2Riyf9GhYqnLq7g`],
  ])("calls a token malformed: %s", async (_, token) => {
    expect(await verifyClientToken(token, "ada@example.com", secrets)).toEqual({ ok: false, problem: "malformed" });
  });

  it("accepts the token of any address under any casing of it", async () => {
    await fc.assert(
      fc.asyncProperty(fc.emailAddress(), async (address) => {
        const token = await signClientToken(secrets, "k2026b", address);
        expect(await verifyClientToken(token, address.toUpperCase(), secrets)).toEqual({ ok: true, kid: "k2026b" });
      }),
      { numRuns: 50 },
    );
  });

  it("never throws, whatever the token and recipient", async () => {
    const valid = await signClientToken(secrets, "k2026a", "ada@example.com");
    const mutated = fc
      .tuple(fc.nat(valid.length - 1), fc.string({ minLength: 0, maxLength: 3 }))
      .map(([at, insert]) => valid.slice(0, at) + insert + valid.slice(at + 1));
    await fc.assert(
      fc.asyncProperty(fc.oneof(fc.string(), fc.string({ unit: "binary" }), mutated), fc.string(), async (t, r) => {
        const verdict = await verifyClientToken(t, r, secrets);
        expect(verdict.ok === false || (t === valid && r.toLowerCase() === "ada@example.com")).toBe(true);
      }),
    );
  });
});

describe("readClientToken", () => {
  it("refuses a retired kid before any crypto", async () => {
    const token = await signClientToken(retired, "k2025", "ada@example.com");
    expect(readClientToken(token, secrets)).toEqual({ ok: false, problem: "unknown_kid" });
  });

  it("returns the kid, the 32-byte MAC and the issue time in seconds", async () => {
    const token = await signClientToken(secrets, "k2026a", "ada@example.com", 1_796_601_600_999);
    const read = readClientToken(token, secrets);
    expect(read.ok && read.token.kid).toBe("k2026a");
    expect(read.ok && read.token.mac.length).toBe(32);
    expect(read.ok && read.token.issuedAt).toBe(1_796_601_600);
  });
});

describe("parseTokenSecrets", () => {
  it("reads kid -> secret", () => {
    expect(parseTokenSecrets('{"dev":"notepipe-dev-secret-change-me"}').get("dev")).toBe(
      "notepipe-dev-secret-change-me",
    );
  });

  it.each([
    ["not JSON", "{dev:notepipe-dev-secret-change-me}"],
    ["not an object", '["notepipe-dev-secret-change-me"]'],
    ["no kid", "{}"],
    ["a kid with a dot", '{"k.1":"notepipe-dev-secret-change-me"}'],
    ["a short secret", '{"dev":"changeme"}'],
    ["a secret that is not a string", '{"dev":12345678901234567890}'],
  ])("refuses %s", (_, json) => {
    expect(() => parseTokenSecrets(json)).toThrow(/^TOKEN_SECRETS /);
  });

  it("never puts a secret in its error message", () => {
    const secret = "s3cr3t-value-that-must-not-leak";
    for (const json of [`{"dev":"${secret}"`, `["${secret}"]`, `{"a b":"${secret}"}`, `"${secret}"`]) {
      expect(() => parseTokenSecrets(json)).toThrow();
      try {
        parseTokenSecrets(json);
      } catch (error) {
        expect((error as Error).message).not.toContain(secret);
      }
    }
  });
});
