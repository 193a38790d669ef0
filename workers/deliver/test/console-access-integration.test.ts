/**
 * The ops console behind Cloudflare Access (OPS_ACCESS_TEAM_DOMAIN, OPS_ACCESS_AUD): every request
 * needs the application token Access adds, Cf-Access-Jwt-Assertion, signed RS256 under a key of the
 * team's certs, for the application's audience, from the team's issuer, unexpired
 * (https://developers.cloudflare.com/cloudflare-one/identity/users/validating-json/); the ops-token
 * sign-in is closed, and forms still need their CSRF token. The certs endpoint is answered at the
 * fetch boundary with keys this test makes.
 */

import { sign } from "hono/jwt";
import type { HonoJsonWebKey } from "hono/utils/jwt/jws";
import { beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import { http } from "../src/app.ts";
import { TEST_OPS_TOKENS } from "./http-config.ts";
import { deadLetterOf, envWith } from "./ledger.ts";
import { makeNote } from "./notes.ts";
import { deadLetterAsRejected } from "./ops.ts";

const TEAM = "https://notepipe-test.cloudflareaccess.com";
const AUD = "4714c1358e65fe4b408ad6d432a5f878f08194bdb4752441fd56faefa9b2b6f2";
const ORIGIN = "https://ops.example.com";
const environment = envWith({ OPS_ACCESS_TEAM_DOMAIN: TEAM, OPS_ACCESS_AUD: AUD } as unknown as Partial<Env>);

interface SigningKey {
  publicJwk: HonoJsonWebKey;
  privateJwk: HonoJsonWebKey;
}

async function signingKey(kid: string): Promise<SigningKey> {
  const pair = (await crypto.subtle.generateKey(
    { name: "RSASSA-PKCS1-v1_5", modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: "SHA-256" },
    true,
    ["sign", "verify"],
  )) as CryptoKeyPair;
  const publicJwk = (await crypto.subtle.exportKey("jwk", pair.publicKey)) as HonoJsonWebKey;
  const privateJwk = (await crypto.subtle.exportKey("jwk", pair.privateKey)) as HonoJsonWebKey;
  return { publicJwk: { ...publicJwk, kid, alg: "RS256" }, privateJwk: { ...privateJwk, kid, alg: "RS256" } };
}

let current: SigningKey;
let stranger: SigningKey;

beforeAll(async () => {
  current = await signingKey("access-key-1");
  // Another key under the same id: what a forger without the team's private key can do.
  stranger = await signingKey("access-key-1");
});

/** The team's certs, as Access publishes them: `keys` in JWK form; any other fetch fails the test. */
function serveCerts(): void {
  vi.spyOn(globalThis, "fetch").mockImplementation(async (input) => {
    const url = new Request(input).url;
    if (url !== `${TEAM}/cdn-cgi/access/certs`) throw new Error(`unexpected fetch of ${url}`);
    return Response.json({ keys: [current.publicJwk] });
  });
}

beforeEach(serveCerts);

async function token(claims: Record<string, unknown> = {}, key: SigningKey = current): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const payload = {
    aud: [AUD],
    iss: TEAM,
    sub: "7335d417-61da-459d-899c-0a01c76a2f94",
    iat: now,
    exp: now + 600,
    ...claims,
  };
  return await sign(payload, key.privateJwk, "RS256");
}

function send(path: string, init: { assertion?: string; method?: string; form?: Record<string, string> } = {}) {
  const headers = new Headers({ origin: ORIGIN });
  if (init.assertion !== undefined) headers.set("cf-access-jwt-assertion", init.assertion);
  let body: string | undefined;
  if (init.form !== undefined) {
    body = new URLSearchParams(init.form).toString();
    headers.set("content-type", "application/x-www-form-urlencoded");
  }
  return Promise.resolve(
    http.request(`${ORIGIN}${path}`, { method: init.method ?? "GET", headers, body }, environment),
  );
}

describe("the console behind Cloudflare Access", () => {
  it("opens a page for a request Access vouched for, with no cookie of its own", async () => {
    const res = await send("/ops/console/dead-letters", { assertion: await token() });
    expect(res.status).toBe(200);
    expect(res.headers.get("set-cookie")).toBeNull();
  });

  it("refuses with 401 a request without the token, or whose token is expired, for another audience or issuer, or signed by another key", async () => {
    const now = Math.floor(Date.now() / 1000);
    const refused = [
      undefined,
      await token({ exp: now - 1 }),
      await token({ aud: ["another-application"] }),
      await token({ iss: "https://someone-else.cloudflareaccess.com" }),
      await token({}, stranger),
      "not.a.jwt",
    ];
    for (const assertion of refused) {
      const res = await send("/ops/console/dead-letters", assertion === undefined ? {} : { assertion });
      expect(res.status).toBe(401);
      expect(((await res.json()) as { error: string }).error).toBe("unauthorized");
    }
  });

  it("closes the ops-token sign-in: a current token sets no cookie", async () => {
    const res = await send("/ops/console/sign-in", { method: "POST", form: { token: TEST_OPS_TOKENS[0] } });
    expect(res.status).toBe(303);
    expect(res.headers.get("location")).toBe("/ops/");
    expect(res.headers.get("set-cookie")).toBeNull();
  });

  it("still takes a form only with its CSRF token", async () => {
    const note = makeNote();
    await deadLetterAsRejected([note], { environment });
    serveCerts(); // the provider's mock took fetch over
    const assertion = await token();
    const form = { id: note.id };
    expect((await send("/ops/console/dead-letters/discard", { assertion, method: "POST", form })).status).toBe(403);
    expect(await deadLetterOf(note.id)).not.toBeNull();

    const page = await (await send("/ops/console/dead-letters", { assertion })).text();
    const csrf = /name="csrf" value="([^"]+)"/.exec(page)?.[1] as string;
    const res = await send("/ops/console/dead-letters/discard", { assertion, method: "POST", form: { ...form, csrf } });
    expect(res.status).toBe(303);
    expect(await deadLetterOf(note.id)).toBeNull();
  });
});
