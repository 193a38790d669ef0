/**
 * Self-service enrollment on the real local stack: a code asked for with the SDK arrives in the
 * local inbox as an email, the code read from it buys a token, and that token sends a note that
 * ends `delivered`. Then the limits, as a burst meets them: per address, then per client address,
 * then the deployment's code emails of the day. An address whose tokens its operator revoked
 * (`pnpm ops token revoke`) is refused within the documented delay.
 */

import { confirmCode, decrypt, generateKey, NotepipeError, requestCode, send } from "@notepipe/client";
import type { InboxEmail } from "@notepipe/local-provider";
import { type LocalStack as Stack, startStack, THROWAWAY_INGEST_LIMITS } from "@notepipe/local-stack";
import { REVOCATION_DELAY_SECONDS } from "@notepipe/pipeline";
import { CODE_PATTERN, makeEnrollmentCode } from "@notepipe/token";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FAST_RETRY_VARS } from "./notes.ts";
import { runOps } from "./ops-run.ts";

const WITHIN_MS = 60_000;
/** ENROLL_IP_LIMITER's limit per client address per minute on this file's stack. */
const ENROLL_IP_LIMIT = 30;
/** CODE_EMAILS_PER_DAY on this file's stack: above the 24 codes the tests before the last one ask for. */
const CODE_EMAILS_PER_DAY = 30;

let stack: Stack;

beforeAll(async () => {
  stack = await startStack({
    ingestPort: 0,
    providerPort: 0,
    ephemeral: true,
    deliveryWebhooks: true,
    deliverVars: FAST_RETRY_VARS,
    // Above what this file asks from 127.0.0.1 in a minute, which ingest counts like any client.
    ingestLimits: { ...THROWAWAY_INGEST_LIMITS, ENROLL_IP_LIMITER: ENROLL_IP_LIMIT },
    ingestVars: { CODE_EMAILS_PER_DAY: String(CODE_EMAILS_PER_DAY) },
  });
});

afterAll(async () => {
  await stack?.stop();
});

/** No retries inside the SDK: a test sees each answer as the server gave it. */
const connection = () => ({ endpoint: stack.ingestUrl, retry: { attempts: 1 } });

async function inboxFor(to: string): Promise<InboxEmail[]> {
  const res = await fetch(`${stack.providerUrl}/inbox?to=${encodeURIComponent(to)}`);
  return ((await res.json()) as { emails: InboxEmail[] }).emails;
}

async function waitForEmails(to: string, count: number): Promise<InboxEmail[]> {
  const deadline = Date.now() + WITHIN_MS;
  for (;;) {
    const emails = await inboxFor(to);
    if (emails.length >= count || Date.now() > deadline) return emails;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

async function waitForState(id: string, state: string): Promise<string> {
  const deadline = Date.now() + WITHIN_MS;
  for (;;) {
    const res = await fetch(`${stack.ingestUrl}/v1/notes/${id}`);
    const seen = res.status === 200 ? ((await res.json()) as { state: string }).state : "unknown";
    if (seen === state || Date.now() > deadline) return seen;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

/** The code a code email carries: 8 characters of Crockford's base32 (packages/token). */
function codeIn(email: InboxEmail | undefined): string | undefined {
  return /\b([0-9A-HJKMNP-TV-Z]{8})\b/.exec(email?.text ?? "")?.[1];
}

/** A fetch that says it comes from `ip`: wrangler dev passes `CF-Connecting-IP` on as sent. */
function fromNetwork(ip: string): typeof fetch {
  return (input, init) => fetch(input, { ...init, headers: { ...(init?.headers as object), "cf-connecting-ip": ip } });
}

async function failure(promise: Promise<unknown>): Promise<NotepipeError> {
  const error = await promise.then(
    () => undefined,
    (error: unknown) => error,
  );
  if (!(error instanceof NotepipeError)) throw new Error(`expected a NotepipeError, got ${String(error)}`);
  return error;
}

describe("enrollment on the local stack", () => {
  it("emails a code to the address; the code buys its token; the token sends a note that ends delivered", async () => {
    await requestCode(connection(), "Ada@Example.com");

    const [email, ...more] = await waitForEmails("ada@example.com", 1);
    expect(more).toEqual([]);
    expect(email).toMatchObject({ from: "notepipe <notes@notepipe.dev>", to: ["ada@example.com"] });
    expect(email?.subject).toBe("Your notepipe code");
    const code = codeIn(email);
    expect(code).toMatch(CODE_PATTERN);
    expect(email?.noteId).toBeNull();

    expect((await failure(confirmCode(connection(), "grace@example.com", code as string))).code).toBe("invalid_code");
    const token = await confirmCode(connection(), "ada@example.com", code as string);
    expect(token).toMatch(/^np2\.dev\.\d+\.[A-Za-z0-9_-]{43}$/);

    const key = await generateKey();
    const text = "Enrolled by myself, with a code from my own inbox.";
    const id = await send(connection(), { to: "ada@example.com", text, key, token });
    expect(await waitForState(id, "delivered")).toBe("delivered");
    const [note] = (await inboxFor("ada@example.com")).filter((inbox) => inbox.noteId === id);
    expect(await decrypt(note?.text ?? "", key)).toBe(text);
  });

  it("refuses an address's tokens within the documented delay once the operator revokes them; a token issued after sends", async () => {
    const to = "lost-phone@example.com";
    // A network of its own, so that this test's requests leave the others' allowance alone.
    const fromItsNetwork = { ...connection(), fetch: fromNetwork("192.0.2.77") };
    // Its inbox holds notes as well as codes: the code is in the email that carries no note.
    const enrol = async () => {
      const before = (await inboxFor(to)).length;
      await requestCode(fromItsNetwork, to);
      const emails = await waitForEmails(to, before + 1);
      const code = emails.slice(before).find((email) => email.noteId === null);
      return confirmCode(fromItsNetwork, to, codeIn(code) as string);
    };
    const key = await generateKey();
    const sendWith = (token: string) => send(fromItsNetwork, { to, text: "From the phone I lost.", key, token });
    const lost = await enrol();
    await sendWith(lost);

    const revoke = await runOps(stack, "token", "revoke", to);
    expect(revoke.code).toBe(0);
    expect(revoke.stdout).toContain(`are refused within ${REVOCATION_DELAY_SECONDS} s`);
    // Each ingest isolate may hold its last reading for NOT_BEFORE_CACHE_SECONDS; KV's own
    // propagation is the rest of the delay, and local KV has none.
    const deadline = Date.now() + REVOCATION_DELAY_SECONDS * 1000;
    let refused: NotepipeError | undefined;
    while (refused === undefined && Date.now() < deadline) {
      refused = await failure(sendWith(lost)).catch(() => undefined);
      if (refused === undefined) await new Promise((resolve) => setTimeout(resolve, 2_000));
    }
    expect([refused?.code, refused?.status]).toEqual(["unauthorized", 401]);

    expect(await sendWith(await enrol())).toMatch(/^[0-9a-f-]{36}$/);
  });

  it("gives nothing for a code nobody asked for; five misses kill a code; the owner's next code works", async () => {
    const to = "guessed@example.com";
    expect((await failure(confirmCode(connection(), to, makeEnrollmentCode()))).code).toBe("invalid_code");
    await requestCode(connection(), to);
    const [first] = await waitForEmails(to, 1);

    for (let i = 0; i < 5; i++) {
      expect((await failure(confirmCode(connection(), to, makeEnrollmentCode()))).code).toBe("invalid_code");
    }
    expect((await failure(confirmCode(connection(), to, codeIn(first) as string))).code).toBe("invalid_code");
    await requestCode(connection(), to);
    const [, second] = await waitForEmails(to, 2);

    expect(await confirmCode(connection(), to, codeIn(second) as string)).toMatch(/^np2\./);
  });

  it("sends one address 3 codes, then answers 429 with Retry-After and sends no fourth", async () => {
    const to = "burst@example.com";
    for (let i = 0; i < 3; i++) await requestCode(connection(), to);

    const refused = await failure(requestCode(connection(), to));

    expect([refused.code, refused.status]).toEqual(["rate_limited", 429]);
    expect(refused.retryAfterMs).toBeGreaterThan(3_500_000);
    expect(refused.retryAfterMs).toBeLessThanOrEqual(3_600_000);
    expect(await waitForEmails(to, 3)).toHaveLength(3);
  });

  it("answers 429 with Retry-After: 60 to one client address past its requests a minute, over both routes", async () => {
    // On Cloudflare this header is the client's address and cannot be set by it; wrangler dev
    // passes it on as sent.
    const from = (ip: string) => ({ "content-type": "application/json", "cf-connecting-ip": ip });
    const post = (path: string, ip: string, body: unknown) =>
      fetch(`${stack.ingestUrl}${path}`, { method: "POST", headers: from(ip), body: JSON.stringify(body) });
    const statuses: number[] = [];
    const half = ENROLL_IP_LIMIT / 2;
    for (let i = 0; i < half; i++)
      statuses.push((await post("/v1/tokens/code", "203.0.113.7", { to: `walker${i}@example.com` })).status);
    for (let i = 0; i < half; i++) {
      statuses.push(
        (await post("/v1/tokens", "203.0.113.7", { to: `walker${i}@example.com`, code: "00000000" })).status,
      );
    }

    const refused = await post("/v1/tokens/code", "203.0.113.7", { to: "walker-next@example.com" });

    expect(statuses).toEqual([...Array(half).fill(202), ...Array(half).fill(400)]);
    expect(refused.status).toBe(429);
    expect(refused.headers.get("retry-after")).toBe("60");
    expect(await refused.json()).toEqual({ error: "rate_limited", message: expect.stringContaining("network") });
    expect((await post("/v1/tokens/code", "203.0.113.8", { to: "walker-next@example.com" })).status).toBe(202);
  });

  it("past the deployment's code emails of the day answers 429 with Retry-After to UTC midnight and emails nothing", async () => {
    const ask = (to: string, i: number) =>
      fetch(`${stack.ingestUrl}/v1/tokens/code`, {
        method: "POST",
        headers: { "content-type": "application/json", "cf-connecting-ip": `198.51.100.${i + 1}` },
        body: JSON.stringify({ to }),
      });
    // The tests before this one spent some of the day's emails; the rest go to these addresses.
    const sent: string[] = [];
    let refused: Response | undefined;
    for (let i = 0; i <= CODE_EMAILS_PER_DAY && refused === undefined; i++) {
      const to = `budget${i}@example.com`;
      const answer = await ask(to, i);
      if (answer.status === 202) sent.push(to);
      else refused = answer;
    }

    expect(refused?.status).toBe(429);
    expect(await refused?.json()).toEqual({ error: "rate_limited", message: expect.stringContaining("today") });
    const nextMidnight = new Date().setUTCHours(24, 0, 0, 0);
    const retryAfter = Number(refused?.headers.get("retry-after"));
    expect(Math.abs(retryAfter - (nextMidnight - Date.now()) / 1000)).toBeLessThan(60);
    expect(sent.length).toBeGreaterThan(0);
    for (const to of sent) expect(await waitForEmails(to, 1)).toHaveLength(1);
    // Every email asked for before the refusal has arrived; the refused address has none.
    expect(await inboxFor(`budget${sent.length}@example.com`)).toEqual([]);
  });
});
