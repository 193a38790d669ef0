/**
 * Cloudflare Email Service as a provider, inside workerd: deliver's own `sendEmails` (and
 * `postBatch`, the code emails' path) through the `send_email` binding, with the binding played by
 * the stand-in written from the service's documentation (packages/local-provider/src/
 * cloudflare-email.ts), which enforces every row of CLOUDFLARE_EMAIL_CONTRACT. Miniflare's own
 * simulation of the binding refuses nothing but a binding's allowed lists, with errors that carry
 * no `code`, so it cannot show what deliver makes of the service's answers. Every row has a case
 * here, and no case lacks a row.
 */

import { env } from "cloudflare:workers";
import {
  CloudflareEmailStandIn,
  type CloudflareEmailStandInOptions,
  type CloudflareFate,
} from "@notepipe/local-provider/cloudflare-email";
import { CLOUDFLARE_EMAIL_CONTRACT, CLOUDFLARE_EMAIL_LIMITS } from "@notepipe/local-provider/contracts";
import { afterEach, describe, expect, it, vi } from "vitest";
import { readConfig } from "../src/config.ts";
import { CLOUDFLARE_BINDING, cloudflareProvider, PARALLEL_SENDS } from "../src/providers/cloudflare.ts";
import { type OutgoingEmail, postBatch, type SendSettings, sendEmails } from "../src/providers/provider.ts";
import { classOf, isAmbiguous, type SendOutcome } from "../src/queue/outcomes.ts";

const ADA = "ada@example.com";
const GRACE = "grace@example.com";
const FROM = "notepipe <notes@notepipe.dev>";

afterEach(() => {
  vi.useRealTimers();
});

function note(recipient = ADA): OutgoingEmail {
  return {
    noteId: crypto.randomUUID(),
    recipient,
    nonce: crypto.getRandomValues(new Uint8Array(12)),
    ciphertext: crypto.getRandomValues(new Uint8Array(48)),
  };
}

function standIn(options: CloudflareEmailStandInOptions = {}, ...fates: CloudflareFate[]): CloudflareEmailStandIn {
  const binding = new CloudflareEmailStandIn({ verifiedDestinations: [ADA, GRACE], ...options });
  binding.failNext(...fates);
  return binding;
}

function settings(binding: CloudflareEmailStandIn, change: Partial<SendSettings> = {}): SendSettings {
  return {
    apiUrl: "",
    apiKey: "",
    fromJson: JSON.stringify(FROM),
    subjectJson: JSON.stringify("Encrypted Note"),
    userAgent: "notepipe/1.0.0",
    timeoutMs: 30_000,
    binding: binding as unknown as SendEmail,
    ...change,
  };
}

async function send(
  binding: CloudflareEmailStandIn,
  notes: readonly OutgoingEmail[],
  change: Partial<SendSettings> = {},
): Promise<SendOutcome[]> {
  return sendEmails(cloudflareProvider, settings(binding, change), notes, `notepipe-v2-${crypto.randomUUID()}`);
}

/** What deliver makes of one outcome, in words. */
function decide(outcome: SendOutcome | undefined): string {
  if (outcome === undefined) return "none";
  if (outcome.kind === "accepted") return "accepted";
  const maybe = isAmbiguous(outcome.code) ? ", maybe sent" : "";
  return `${classOf(outcome.code)}: ${outcome.code}${maybe}`;
}

const NOT_TRIED = "transient: rate_limited";

const CASES: Record<string, () => Promise<void>> = {
  binding: async () => {
    const binding = standIn();
    const notes = [note(), note(GRACE), note()];
    const outcomes = await send(binding, notes);
    expect(outcomes.map(decide)).toEqual(["accepted", "accepted", "accepted"]);
    // One call per note, each its own email.
    expect(binding.calls).toBe(3);
    expect(binding.sent.map((sent) => sent.to)).toEqual([[ADA], [GRACE], [ADA]]);
  },
  result: async () => {
    const binding = standIn();
    const [outcome] = await send(binding, [note()]);
    expect(outcome).toEqual({ kind: "accepted", providerId: binding.sent[0]?.messageId });
    expect(binding.sent[0]?.messageId).toMatch(/^<[A-Za-z0-9]{36}@notepipe\.dev>$/);
  },
  errors: async () => {
    const binding = standIn({}, "E_DELIVERY_FAILED");
    const [outcome] = await send(binding, [note()]);
    expect(outcome).toMatchObject({ kind: "failed", code: "rejected" });
  },
  "required-fields": async () => {
    const binding = standIn();
    const outcomes = await send(binding, [note()], { subjectJson: JSON.stringify("") });
    expect(outcomes.map(decide)).toEqual(["pipeline: request_invalid"]);
    expect(outcomes[0]).toMatchObject({ detail: expect.stringMatching(/^E_FIELD_MISSING/) });
  },
  body: async () => {
    const binding = standIn();
    await send(binding, [note()]);
    const [sent] = binding.sent;
    expect(sent?.text).toMatch(/^[A-Za-z0-9+/]{16}\n[A-Za-z0-9+/]{64}$/);
  },
  "address-form": async () => {
    // MAIL_FROM's `Name <address>` goes as the documented `{ email, name }`.
    const named = standIn();
    const spy = vi.spyOn(named, "send");
    expect((await send(named, [note()])).map(decide)).toEqual(["accepted"]);
    expect(spy.mock.calls[0]?.[0]).toMatchObject({ from: { email: "notes@notepipe.dev", name: "notepipe" } });

    // Every note passed the frame's recipient rule: a malformed address is the configured sender's.
    const malformed = standIn();
    const outcomes = await send(malformed, [note()], { fromJson: JSON.stringify("notepipe") });
    expect(outcomes.map(decide)).toEqual(["pipeline: request_invalid"]);
  },
  recipients: async () => {
    const binding = standIn();
    await send(binding, [note()]);
    expect(binding.sent[0]?.to.length).toBeLessThanOrEqual(CLOUDFLARE_EMAIL_LIMITS.recipients);
  },
  subject: async () => {
    const binding = standIn();
    const long = JSON.stringify("x".repeat(CLOUDFLARE_EMAIL_LIMITS.subjectChars + 1));
    expect((await send(binding, [note()], { subjectJson: long })).map(decide)).toEqual(["pipeline: request_invalid"]);
  },
  size: async () => {
    const binding = standIn({}, "E_CONTENT_TOO_LARGE");
    expect((await send(binding, [note(), note()])).map(decide)).toEqual(["permanent: rejected", "accepted"]);
  },
  sender: async () => {
    const binding = standIn({ senderDomains: ["example.org"] });
    const notes = Array.from({ length: PARALLEL_SENDS + 4 }, () => note());
    const outcomes = await send(binding, notes);
    // The calls already under way when the first refusal came back, and no more.
    expect(binding.calls).toBe(PARALLEL_SENDS);
    expect(outcomes.map(decide)).toEqual([
      ...Array(PARALLEL_SENDS).fill("pipeline: sender_not_verified"),
      ...Array(4).fill(NOT_TRIED),
    ]);
    expect(binding.sent).toEqual([]);
  },
  destinations: async () => {
    const binding = standIn();
    const outcomes = await send(binding, [note(), note("stranger@example.com"), note(GRACE)]);
    // Refused for that note alone: the others go.
    expect(outcomes.map(decide)).toEqual(["accepted", "permanent: rejected", "accepted"]);
    expect(binding.sent.map((sent) => sent.to[0])).toEqual([ADA, GRACE]);
  },
  suppressed: async () => {
    const binding = standIn({ onboarded: true });
    const outcomes = await send(binding, [note("bounce@example.com"), note()]);
    expect(outcomes.map(decide)).toEqual(["permanent: inactive_recipient", "accepted"]);
  },
  headers: async () => {
    const binding = standIn();
    const [email] = [note()];
    await send(binding, [email as OutgoingEmail]);
    expect(binding.sent[0]?.headers).toEqual({ "X-Notepipe-Note-Id": email?.noteId });
  },
  "rate-limit": async () => {
    const binding = standIn({}, "E_RATE_LIMIT_EXCEEDED");
    const outcomes = await send(binding, [note()]);
    expect(outcomes.map(decide)).toEqual(["transient: rate_limited"]);
  },
  "daily-limit": async () => {
    const binding = standIn({ onboarded: true, dailyLimit: 1 });
    const outcomes = await send(binding, [note("someone@example.org")]);
    expect(outcomes.map(decide)).toEqual(["accepted"]);
    const spent = await send(binding, [note("someone@example.org")]);
    expect(spent.map(decide)).toEqual(["pipeline: quota_exceeded"]);
    // Sends to verified destination addresses do not count toward it.
    expect((await send(binding, [note(ADA)])).map(decide)).toEqual(["accepted"]);
  },
  "delivery-failed": async () => {
    const binding = standIn({}, "E_DELIVERY_FAILED");
    expect((await send(binding, [note(), note()])).map(decide)).toEqual(["permanent: rejected", "accepted"]);
  },
  "internal-error": async () => {
    const internal = standIn({}, "E_INTERNAL_SERVER_ERROR");
    expect((await send(internal, [note()])).map(decide)).toEqual(["transient: provider_unavailable, maybe sent"]);

    // Sent, then the answer lost: deliver cannot know, and says so; the ledger treats it as an
    // unanswered request to a provider without idempotency keys and never sends the note again.
    const lost = standIn({}, "lose_answer");
    expect((await send(lost, [note()])).map(decide)).toEqual(["transient: network_error, maybe sent"]);
    expect(lost.sent).toHaveLength(1);
    expect(cloudflareProvider.idempotent).toBe(false);
  },
  idempotency: async () => {
    const binding = standIn();
    const repeated = note();
    await send(binding, [repeated]);
    await send(binding, [repeated]);
    expect(binding.sent).toHaveLength(2);
    expect(cloudflareProvider.idempotent).toBe(false);
  },
  subrequests: async () => {
    const binding = standIn();
    const notes = Array.from({ length: 100 }, () => note());
    const outcomes = await send(binding, notes);
    expect(outcomes.every((outcome) => outcome.kind === "accepted")).toBe(true);
    expect(binding.calls).toBe(100);
  },
};

describe("Cloudflare Email Service's contract", () => {
  it("has a case for every row and a row for every case", () => {
    expect(Object.keys(CASES).sort()).toEqual(CLOUDFLARE_EMAIL_CONTRACT.map((row) => row.id).sort());
  });

  it.each(CLOUDFLARE_EMAIL_CONTRACT.map((row) => [row.id] as const))("%s", async (id) => {
    await (CASES[id] as () => Promise<void>)();
  });
});

describe("the Cloudflare provider's time bound", () => {
  it("gives up on a call unanswered within the request's time (maybe sent) and starts none after it", async () => {
    vi.useFakeTimers();
    const binding = standIn({}, ...Array<CloudflareFate>(PARALLEL_SENDS).fill("hang"));
    const pending = send(
      binding,
      Array.from({ length: PARALLEL_SENDS + 1 }, () => note()),
      { timeoutMs: 1000 },
    );
    await vi.advanceTimersByTimeAsync(1000);
    const outcomes = await pending;
    expect(binding.calls).toBe(PARALLEL_SENDS);
    expect(outcomes.map(decide)).toEqual([...Array(PARALLEL_SENDS).fill("transient: timeout, maybe sent"), NOT_TRIED]);
  });
});

describe("postBatch through the binding (code emails, alerts)", () => {
  it("sends a Resend-shaped body's email through send()", async () => {
    const binding = standIn();
    const body = JSON.stringify([
      { from: FROM, to: [ADA], subject: "Your notepipe code", text: "Your code is 7KQ2M9XD." },
    ]);
    const outcomes = await postBatch(cloudflareProvider, settings(binding), body, "code-1", 1);
    expect(outcomes.map(decide)).toEqual(["accepted"]);
    expect(binding.sent[0]).toMatchObject({ to: [ADA], subject: "Your notepipe code", text: "Your code is 7KQ2M9XD." });
  });
});

describe("cloudflare in MAIL_PROVIDERS", () => {
  it("reads the send_email binding, and needs no key or URL", () => {
    const binding = standIn();
    const read = readConfig({ ...env, MAIL_PROVIDERS: "cloudflare", [CLOUDFLARE_BINDING]: binding } as unknown as Env);
    expect(read.ok).toBe(true);
    if (!read.ok) return;
    expect(read.config.provider.name).toBe("cloudflare");
    expect(read.config.send.binding).toBe(binding);
  });

  it("is refused without the binding, saying which one", () => {
    const read = readConfig({ ...env, MAIL_PROVIDERS: "resend,cloudflare" } as unknown as Env);
    expect(read).toEqual({
      ok: false,
      problem:
        "MAIL_PROVIDERS lists cloudflare, which needs a [[send_email]] binding named EMAIL in wrangler.deliver.toml.",
    });
  });
});
