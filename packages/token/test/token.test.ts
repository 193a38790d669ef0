import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseTokenSecrets, readClientToken, signClientToken, verifyClientToken } from "../src/index.ts";

const secrets = parseTokenSecrets(
  JSON.stringify({ k2026a: "first-secret-0123456789", k2026b: "second-secret-0123456789" }),
);
/** k2025 was removed from TOKEN_SECRETS: its tokens must be refused. */
const retired = parseTokenSecrets(JSON.stringify({ k2025: "retired-secret-0123456789" }));

describe("signClientToken", () => {
  it("spells np1.<kid>.<43 base64url characters>", async () => {
    const token = await signClientToken(secrets, "k2026a", "ada@example.com");
    expect(token).toMatch(/^np1\.k2026a\.[A-Za-z0-9_-]{43}$/);
  });

  it("is HMAC-SHA256 of the lowercased recipient keyed by the secret's UTF-8 bytes", async () => {
    // Computed independently with: printf %s 'ada@example.com' | openssl dgst -sha256 -hmac 'first-secret-0123456789' -binary | basenc --base64url | tr -d =
    const token = await signClientToken(secrets, "k2026a", "Ada@Example.COM");
    expect(token).toBe("np1.k2026a.ygyn_SPcMFWdheT5U-o3y2gA_nxd2Riyf9GhYqnLq7g");
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
    ["other version", "np2.k2026a.ygyn_SPcMFWdheT5U-o3y2gA_nxd2Riyf9GhYqnLq7g"],
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

  it("returns the kid and the 32-byte MAC", async () => {
    const token = await signClientToken(secrets, "k2026a", "ada@example.com");
    const read = readClientToken(token, secrets);
    expect(read.ok && read.token.kid).toBe("k2026a");
    expect(read.ok && read.token.mac.length).toBe(32);
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
