/**
 * Failover between two listed providers (MAIL_PROVIDERS = "resend,postmark"), through the `notes`
 * consumer: when a circuit opens, which batch goes where, the probe that closes it, and the
 * exactly-once rules across a switch (a note that may have reached one provider never goes to the
 * other inside its key window). The providers are answered at the fetch boundary, by host.
 */

import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { beforeEach, describe, expect, it, vi } from "vitest";
import type { DeliveryLedger } from "../src/ledger/ledger.ts";
import { webhooks } from "../src/webhooks/app.ts";
import { TEST_MAIL_API_URL } from "./config.ts";
import { TEST_POSTMARK_CREDENTIALS } from "./http-config.ts";
import { ageRequests, deadLetterOf, envWith, expireLeases, ledger, ledgerNote } from "./ledger.ts";
import { fixJitter, ids, makeNotes, messageOf, recordOf, runQueue, type TestMessage, type TestNote } from "./notes.ts";

const POSTMARK_URL = "https://postmark.test";
const POSTMARK_TOKEN = "pm-test-token-never-logged";

/** Resend first, Postmark second, each with its own key; a circuit opens after 3 failures in a minute. */
const failover = envWith({
  MAIL_PROVIDERS: "resend,postmark",
  MAIL_API_KEY_POSTMARK: POSTMARK_TOKEN,
  MAIL_API_URL_POSTMARK: POSTMARK_URL,
  MAIL_FROM_POSTMARK: "notepipe via postmark <notes@example.com>",
} as unknown as Partial<Env>);

type Answer = (emails: unknown[]) => Response | Error;

/** Each email's note id, from either provider's body. */
function noteIdsOf(emails: unknown[]): string[] {
  return emails.map((email) => {
    const { headers, Headers } = email as {
      headers?: Record<string, string>;
      Headers?: { Name: string; Value: string }[];
    };
    return Headers?.[0]?.Value ?? headers?.["X-Notepipe-Note-Id"] ?? "";
  });
}

interface Seen {
  provider: "resend" | "postmark";
  noteIds: string[];
  key: string | null;
  from: unknown;
  body: string;
}

/**
 * Both providers at the fetch boundary: each answers with its next queued answer, else takes every
 * email. `seen` lists every request; `sentAt(provider)` counts the emails each took, per note.
 */
function twoProviders(queued: { resend?: Answer[]; postmark?: Answer[] } = {}) {
  const seen: Seen[] = [];
  const answers = { resend: [...(queued.resend ?? [])], postmark: [...(queued.postmark ?? [])] };
  const taken = { resend: new Map<string, number>(), postmark: new Map<string, number>() };
  vi.spyOn(globalThis, "fetch").mockImplementation(async (input, init) => {
    const request = new Request(input, init);
    const provider = request.url.startsWith(POSTMARK_URL) ? "postmark" : "resend";
    expect(request.url.startsWith(provider === "postmark" ? POSTMARK_URL : TEST_MAIL_API_URL)).toBe(true);
    const body = await request.text();
    const emails = JSON.parse(body) as unknown[];
    const noteIds = noteIdsOf(emails);
    const first = emails[0] as { from?: unknown; From?: unknown };
    seen.push({ provider, noteIds, key: request.headers.get("idempotency-key"), from: first.from ?? first.From, body });
    const answer = answers[provider].shift()?.(emails);
    if (answer instanceof Error) throw answer;
    if (answer !== undefined) return answer;
    for (const id of noteIds) taken[provider].set(id, (taken[provider].get(id) ?? 0) + 1);
    return provider === "resend"
      ? Response.json({ data: noteIds.map((_, i) => ({ id: `re_${seen.length}_${i}` })), errors: [] })
      : Response.json(noteIds.map((_, i) => ({ ErrorCode: 0, Message: "OK", MessageID: `pm_${seen.length}_${i}` })));
  });
  return { seen, taken };
}

const serverError: Answer = () => new Response("upstream connect error", { status: 502 });
const quotaSpent: Answer = () =>
  Response.json(
    { statusCode: 429, name: "daily_quota_exceeded", message: "You have reached your daily email sending quota." },
    { status: 429 },
  );

function circuits(): Promise<{ provider: string; state: string; probe_at: number }[]> {
  return runInDurableObject(ledger(), (_instance: DeliveryLedger, state) =>
    state.storage.sql.exec("SELECT provider, state, probe_at FROM circuits ORDER BY provider").toArray(),
  ) as Promise<{ provider: string; state: string; probe_at: number }[]>;
}

/** As if every open circuit's backoff, and every probe's lease, were over. */
function probeDue(): Promise<void> {
  return runInDurableObject(ledger(), (_instance: DeliveryLedger, state) => {
    state.storage.sql.exec("UPDATE circuits SET probe_at = 0 WHERE state <> 'closed'");
  });
}

async function circuitStats() {
  return (await ledger().stats()).circuits;
}

function send(notes: TestNote[], attempts = 1): Promise<Awaited<ReturnType<typeof runQueue>>> {
  return runQueue(
    "notes",
    notes.map((note) => messageOf(note, { attempts })),
    failover,
  );
}

function sorted(values: readonly string[]): string[] {
  return [...values].sort();
}

/** Three batches the primary answers with a 502: its circuit opens at the third. */
async function openByOutage(): Promise<TestNote[][]> {
  const batches = [makeNotes(2), makeNotes(2), makeNotes(2)];
  twoProviders({ resend: [serverError, serverError, serverError] });
  for (const batch of batches) await send(batch);
  vi.mocked(globalThis.fetch).mockRestore();
  return batches;
}

beforeEach(async () => {
  vi.spyOn(console, "log").mockImplementation(() => {});
  vi.spyOn(console, "error").mockImplementation(() => {});
  fixJitter(0.5);
  await runInDurableObject(ledger(), (_instance: DeliveryLedger, state) => {
    state.storage.sql.exec("DELETE FROM circuits");
  });
});

describe("a circuit opens", () => {
  it("at once on a spent quota: the batch's notes go to the secondary at their next delivery, new batches at once", async () => {
    const logs = vi.spyOn(console, "log").mockImplementation(() => {});
    const [first, second] = [makeNotes(3), makeNotes(2)];
    const { seen, taken } = twoProviders({ resend: [quotaSpent] });

    const refused = await send(first);
    // Not the hour a lone provider's pipeline failure waits: the secondary can take them now.
    expect(refused.retryMessages.map((retry) => retry.delaySeconds)).toEqual([15, 15, 15]);
    expect(await circuits()).toMatchObject([{ provider: "resend", state: "open" }]);

    const again = await send(first, 2);
    const fresh = await send(second);

    expect(again.explicitAcks).toHaveLength(3);
    expect(fresh.explicitAcks).toHaveLength(2);
    expect(seen.map((request) => request.provider)).toEqual(["resend", "postmark", "postmark"]);
    expect(seen[1]?.from).toBe("notepipe via postmark <notes@example.com>");
    expect(sorted([...taken.postmark.keys()])).toEqual(sorted([...first, ...second].map((note) => note.id)));
    expect(taken.resend.size).toBe(0);
    expect(await recordOf(first[0]?.id ?? "")).toMatchObject({
      state: "sent",
      providerId: expect.stringMatching(/^pm_2_/),
    });
    expect(await circuitStats()).toEqual([
      { provider: "postmark", state: "closed", routed: true, switches: 1 },
      {
        provider: "resend",
        state: "open",
        routed: false,
        switches: 0,
        reason: "quota_exceeded",
        openedAt: expect.any(String),
        probeAt: expect.any(String),
      },
    ]);
    const switches = logs.mock.calls.filter(([line]) => String(line).includes("provider switch"));
    expect(switches).toEqual([
      ["deliver: provider switch resend → postmark: resend's circuit is open (quota_exceeded)"],
    ]);
  });

  it("after three transient failures in a row, not before", async () => {
    twoProviders({ resend: [serverError, serverError] });
    for (const batch of [makeNotes(1), makeNotes(1)]) await send(batch);
    expect(await circuits()).toEqual([expect.objectContaining({ provider: "resend", state: "closed" })]);
    vi.mocked(globalThis.fetch).mockRestore();

    const { seen } = twoProviders({ resend: [serverError] });
    await send(makeNotes(1));
    await send(makeNotes(1));

    expect(seen.map((request) => request.provider)).toEqual(["resend", "postmark"]);
    expect(await circuits()).toMatchObject([
      { provider: "postmark", state: "closed" },
      { provider: "resend", state: "open" },
    ]);
  });

  it("not on transient failures spread wider than the window", async () => {
    twoProviders({ resend: [serverError, serverError, serverError] });
    await send(makeNotes(1));
    await send(makeNotes(1));
    await runInDurableObject(ledger(), (_instance: DeliveryLedger, state) => {
      state.storage.sql.exec("UPDATE circuits SET first_failure_at = first_failure_at - 61000");
    });
    await send(makeNotes(1));

    expect(await circuits()).toEqual([expect.objectContaining({ provider: "resend", state: "closed" })]);
  });
});

describe("exactly once across the switch", () => {
  it("a note held by an unanswered request at the primary waits for it, never goes to the secondary, and goes again to the primary as the identical request once its probe is due", async () => {
    const [held] = await openByOutage();
    const { seen, taken } = twoProviders();
    await expireLeases();

    const waiting = await send(held as TestNote[], 2);

    expect(seen).toEqual([]);
    // Until the probe, 60 s after the circuit opened (CIRCUIT_PROBE_SECONDS), and a second more.
    expect(waiting.retryMessages.map((retry) => retry.delaySeconds)).toEqual([61, 61]);
    expect(await ledgerNote(held?.[0]?.id ?? "")).toMatchObject({ state: "retrying" });

    await probeDue();
    const probed = await send(held as TestNote[], 3);

    expect(probed.explicitAcks).toHaveLength(2);
    expect(seen.map((request) => request.provider)).toEqual(["resend"]);
    expect(taken.postmark.size).toBe(0);
    expect(await circuits()).toMatchObject([{ provider: "resend", state: "closed" }]);
  });

  it("past the primary's key window, such a note is possibly_sent, as with one provider, and still not sent at the secondary", async () => {
    const [held] = await openByOutage();
    const { seen } = twoProviders();
    await expireLeases();
    await ageRequests(23 * 60 * 60 * 1000);

    const result = await send(held as TestNote[], 2);

    expect(result.explicitAcks).toHaveLength(2);
    expect(seen).toEqual([]);
    expect(await recordOf(held?.[0]?.id ?? "")).toMatchObject({ state: "failed", errorCode: "possibly_sent" });
  });

  it("a note the primary refused for itself is not retried at the secondary", async () => {
    const notes = makeNotes(2);
    const sortedNotes = [...notes].sort((a, b) => (a.id < b.id ? -1 : 1));
    const { seen } = twoProviders({
      resend: [
        () =>
          Response.json(
            { data: [{ id: "re_ok" }], errors: [{ index: 1, message: "Invalid `to` field." }] },
            { status: 200 },
          ),
      ],
    });
    await send(notes);
    const refused = sortedNotes[1] as TestNote;

    const again = await send([refused], 2);

    expect(again.explicitAcks).toHaveLength(1);
    expect(seen.map((request) => request.provider)).toEqual(["resend"]);
    expect(await recordOf(refused.id)).toMatchObject({ state: "failed", errorCode: "rejected" });
    expect(await circuits()).toMatchObject([{ provider: "resend", state: "closed" }]);
  });

  it("a batch splits: a note held at the secondary goes again there, a new note to the primary whose circuit closed", async () => {
    const { seen, taken } = twoProviders({ resend: [quotaSpent], postmark: [serverError] });
    const held = makeNotes(1);
    await send(held); // resend: quota spent, circuit open
    await send(held, 2); // postmark: 502, held there
    await probeDue();
    await send(makeNotes(1)); // resend probed and answered: closed
    await expireLeases();
    const fresh = makeNotes(1);

    const result = await send([...held, ...fresh], 3);

    expect(result.explicitAcks).toHaveLength(2);
    expect(seen.map((request) => request.provider)).toEqual(["resend", "postmark", "resend", "postmark", "resend"]);
    const [, firstPostmark, , againPostmark, lastResend] = seen;
    // Postmark keeps no keys: the same bytes again, the only way to not change what it may have taken.
    expect(againPostmark?.body).toBe(firstPostmark?.body);
    expect(againPostmark?.key).toBeNull();
    expect(lastResend?.noteIds).toEqual([fresh[0]?.id]);
    expect(taken.postmark.get(held[0]?.id ?? "")).toBe(1);
    expect(taken.resend.has(held[0]?.id ?? "")).toBe(false);
  });
});

describe("Postmark as the secondary", () => {
  it("a note whose Postmark request went unanswered is filed by the dead-letter queue as possibly sent: Postmark keeps no keys, so a replay could send it twice", async () => {
    twoProviders({ resend: [quotaSpent], postmark: [serverError] });
    const [note] = makeNotes(1) as [TestNote];
    await send([note]); // resend: quota spent, circuit open
    await send([note], 2); // postmark: 502, held there

    await runQueue("notes-dlq", [messageOf(note, { attempts: 1 })], failover);

    expect(await deadLetterOf(note.id)).toMatchObject({ possiblySent: true });
  });

  it("its delivery webhooks are applied beside Resend's: a note it sent moves to delivered", async () => {
    twoProviders({ resend: [quotaSpent] });
    const [note] = makeNotes(1) as [TestNote];
    await send([note]);
    await send([note], 2);
    expect(await recordOf(note.id)).toMatchObject({ state: "sent", providerId: expect.stringMatching(/^pm_/) });

    const res = await webhooks.request(
      "https://deliver.test/webhooks/postmark",
      {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Basic ${btoa(TEST_POSTMARK_CREDENTIALS)}` },
        body: JSON.stringify({ RecordType: "Delivery", MessageID: "pm-d", Metadata: { note_id: note.id } }),
      },
      failover,
    );

    expect(res.status).toBe(200);
    expect(await ledgerNote(note.id)).toMatchObject({ state: "delivered" });
  });
});

describe("the probe", () => {
  it("is one claim at a time: while it is out, other batches go to the secondary; a probe that died is taken again, and when it answers traffic returns to the primary", async () => {
    const [held] = await openByOutage();
    await probeDue();
    await expireLeases();
    // The probe's claim holds the circuit half-open; a claim beside it goes on to Postmark.
    const probeClaim = await ledger().claim({
      holder: "probe",
      newKey: "probe-key",
      fromJson: '"x"',
      subjectJson: '"y"',
      leaseMs: 60_000,
      keyWindowMs: 0,
      failover: {
        providers: [
          { name: "resend", keyWindowMs: 82_800_000, fromJson: '"r"' },
          { name: "postmark", keyWindowMs: 0, fromJson: '"p"' },
        ],
        circuit: { failures: 3, windowMs: 60_000, probeMs: 60_000, maxProbeMs: 3_600_000 },
      },
      notes: (held as TestNote[]).map((note) => ({ id: note.id, frame: note.frame, acceptedAt: null, attempts: 2 })),
      undecodable: [],
    });
    expect(probeClaim.sends.map((plan) => plan.provider)).toEqual(["resend"]);
    expect(await circuits()).toMatchObject([{ provider: "resend", state: "half_open" }]);
    const { seen } = twoProviders();

    await send(makeNotes(1));
    // The probe's invocation died: once its lease is over, the next claim holding its request probes.
    await expireLeases();
    await probeDue();
    await send(held as TestNote[], 3);
    await send(makeNotes(1));

    expect(seen.map((request) => request.provider)).toEqual(["postmark", "resend", "resend"]);
    expect(await circuitStats()).toMatchObject([
      { provider: "postmark", routed: false, switches: 1 },
      { provider: "resend", state: "closed", routed: true, switches: 1 },
    ]);
  });

  it("made by a held request carries no new notes: they go to the secondary, and are not held at a failing primary", async () => {
    const [held] = await openByOutage();
    await probeDue();
    await expireLeases();
    const { seen } = twoProviders();
    const fresh = makeNotes(2);

    const result = await send([...(held as TestNote[]), ...fresh], 2);

    expect(result.explicitAcks).toHaveLength(4);
    expect(seen.map((request) => [request.provider, request.noteIds.length])).toEqual([
      ["resend", 2],
      ["postmark", 2],
    ]);
    expect(sorted(seen[1]?.noteIds ?? [])).toEqual(sorted(fresh.map((note) => note.id)));
  });

  it("that meets a 429 says nothing about the provider: the next batch probes again at once", async () => {
    await openByOutage();
    await probeDue();
    const { seen } = twoProviders({
      resend: [() => Response.json({ name: "rate_limit_exceeded", message: "Too many requests." }, { status: 429 })],
    });

    await send(makeNotes(1));
    await send(makeNotes(1));

    expect(seen.map((request) => request.provider)).toEqual(["resend", "resend"]);
    expect(await circuits()).toMatchObject([{ provider: "resend", state: "closed" }]);
  });

  it("that fails opens the circuit again, twice as long", async () => {
    await openByOutage();
    await probeDue();
    const { seen } = twoProviders({ resend: [serverError] });
    const before = Date.now();

    await send(makeNotes(1));

    expect(seen.map((request) => request.provider)).toEqual(["resend"]);
    const [resend] = await circuits();
    expect(resend?.state).toBe("open");
    expect(resend?.probe_at).toBeGreaterThanOrEqual(before + 120_000);
    expect(resend?.probe_at).toBeLessThanOrEqual(Date.now() + 120_000);
  });
});

describe("settings", () => {
  it("an unknown provider in MAIL_PROVIDERS holds every note as config_invalid, and nothing is sent", async () => {
    const { seen } = twoProviders();
    const errors = vi.spyOn(console, "error").mockImplementation(() => {});
    const messages: TestMessage[] = makeNotes(2).map((note) => messageOf(note));

    const result = await runQueue(
      "notes",
      messages,
      envWith({ MAIL_PROVIDERS: "resend,sendgrid" } as unknown as Partial<Env>),
    );

    expect(seen).toEqual([]);
    expect(sorted(result.retryMessages.map((retry) => retry.msgId))).toEqual(sorted(ids(messages)));
    expect(errors.mock.calls[0]?.[0]).toContain("PIPELINE FAILURE config_invalid: MAIL_PROVIDERS");
  });

  it("a listed provider without its own key is config_invalid: another provider's key is never sent to it", async () => {
    const { seen } = twoProviders();
    const errors = vi.spyOn(console, "error").mockImplementation(() => {});

    await runQueue(
      "notes",
      makeNotes(1).map((note) => messageOf(note)),
      envWith({ MAIL_PROVIDERS: "resend,postmark" } as unknown as Partial<Env>),
    );

    expect(seen).toEqual([]);
    expect(errors.mock.calls[0]?.[0]).toContain("MAIL_API_KEY_POSTMARK secret is not set");
  });

  it("the single-provider settings are a list of one, with no circuit", async () => {
    const { seen } = twoProviders({ resend: [quotaSpent] });

    const result = await runQueue(
      "notes",
      makeNotes(1).map((note) => messageOf(note)),
      env,
    );

    expect(seen.map((request) => request.provider)).toEqual(["resend"]);
    expect(result.retryMessages.map((retry) => retry.delaySeconds)).toEqual([3600]);
    expect(await circuits()).toEqual([]);
  });
});
