/**
 * The `notes` consumer when the platform fails it: KV refusing reads and writes (an outage, a
 * spent Free-plan quota), the delivery ledger unreachable or its answer lost, an invocation killed
 * after the provider took a request, and two invocations overlapping on one note. Each test hands
 * the handler a wrapped `env`, and checks that nothing is acked before what makes it recoverable is
 * durable, that nothing is sent twice, and what each message's retry waits.
 */

import { env } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import { repairStatuses } from "../src/status/repair.ts";
import {
  ageNotes,
  deadLetterOf,
  envWith,
  expireLeases,
  faultyKv,
  faultyLedger,
  type KvOperation,
  type LedgerMethod,
  ledgerNote,
} from "./ledger.ts";
import {
  fixJitter,
  idempotentResend,
  ids,
  makeNote,
  makeNotes,
  messageOf,
  mockProvider,
  recordOf,
  resendAccepted,
  runQueue,
  type SeenRequest,
} from "./notes.ts";

const ALL_KV: ReadonlySet<KvOperation> = new Set(["get", "getWithMetadata", "put", "list", "delete"]);

function sorted(values: readonly string[]): string[] {
  return [...values].sort();
}

function kvDown(): Env {
  return envWith({ STATUS: faultyKv(env.STATUS, { ops: ALL_KV }) });
}

function ledgerFailing(failing: { before?: LedgerMethod[]; after?: LedgerMethod[] }, base: Env = env): Env {
  return envWith({
    ...base,
    LEDGER: faultyLedger(base.LEDGER, { before: new Set(failing.before), after: new Set(failing.after) }),
  });
}

describe("KV down (an outage, or the day's quota spent)", () => {
  it("still sends and acks every note, and the repair writes their records once KV is back", async () => {
    const logged = vi.spyOn(console, "error").mockImplementation(() => {});
    const notes = makeNotes(3);
    const messages = notes.map((note) => messageOf(note));
    const requests = mockProvider(resendAccepted);

    const result = await runQueue("notes", messages, kvDown());

    expect(requests).toHaveLength(1);
    expect(sorted(result.explicitAcks)).toEqual(sorted(ids(messages)));
    for (const note of notes) {
      expect(await recordOf(note.id)).toBeNull();
      const row = await ledgerNote(note.id);
      expect(row?.state).toBe("sent");
      expect(row?.kv_version).toBeLessThan(row?.version ?? 0);
    }
    expect(String(logged.mock.calls.at(-1)?.[0])).toContain("KV STATUS refused 3 of 3 status write(s)");

    await ageNotes(120_000);
    const repaired = await repairStatuses(env);

    expect(repaired.written).toBeGreaterThanOrEqual(3);
    for (const note of notes) expect(await recordOf(note.id)).toMatchObject({ state: "sent" });
    await ageNotes(120_000);
    expect((await repairStatuses(env)).written).toBe(0);
  });

  it("acks a refused note only with its dead letter in the ledger, though KV takes nothing", async () => {
    vi.spyOn(console, "error").mockImplementation(() => {});
    const note = makeNote();
    mockProvider(Response.json({ data: [], errors: [{ index: 0, message: "Invalid `to` field." }] }));
    const message = messageOf(note);

    const result = await runQueue("notes", [message], kvDown());

    expect(result.explicitAcks).toEqual([message.id]);
    expect(await deadLetterOf(note.id)).toMatchObject({ reason: "rejected", frame: note.frame.toBase64() });
    expect(await recordOf(note.id)).toBeNull();
    await ageNotes(120_000);
    await repairStatuses(env);
    expect(await recordOf(note.id)).toMatchObject({ state: "failed", errorCode: "rejected" });
  });

  it("never sends a note twice while KV cannot say it was sent", async () => {
    vi.spyOn(console, "error").mockImplementation(() => {});
    const note = makeNote();
    const provider = idempotentResend();
    await runQueue("notes", [messageOf(note)], kvDown());

    // A client re-post, and Queues' own redelivery, with KV still down.
    const again = [messageOf(note), messageOf(note, { attempts: 2 })];
    const result = await runQueue("notes", again, kvDown());

    expect(sorted(result.explicitAcks)).toEqual(sorted(ids(again)));
    expect(provider.requests).toHaveLength(1);
    expect(provider.emails.get(note.id)).toBe(1);
  });
});

describe("the ledger unreachable", () => {
  it("retries every message on the outage backoff, sends nothing, and rides out hours", async () => {
    const logged = vi.spyOn(console, "error").mockImplementation(() => {});
    fixJitter(0);
    const note = makeNote();
    const requests = mockProvider();
    const down = ledgerFailing({ before: ["claim"] }, kvDown());

    const delays: number[] = [];
    // The queue's 11 deliveries (max_retries = 10), each retried on the outage backoff.
    for (let attempts = 1; attempts <= 11; attempts++) {
      const message = messageOf(note, { attempts });
      const result = await runQueue("notes", [message], down);
      expect(result.explicitAcks).toEqual([]);
      delays.push(result.retryMessages[0]?.delaySeconds ?? 0);
    }

    expect(requests).toHaveLength(0);
    // Equal jitter at its lowest: half of 60 s × 2^(n−1), capped at 12 h.
    expect(delays).toEqual([30, 60, 120, 240, 480, 960, 1920, 3840, 7680, 15_360, 21_600]);
    expect(delays.slice(0, 10).reduce((sum, delay) => sum + delay, 0)).toBeGreaterThan(3 * 60 * 60);
    expect(String(logged.mock.calls[0]?.[0])).toContain("LEDGER UNAVAILABLE at claim");
  });

  it("sends nothing when the claim was made but its answer lost, then sends it once the lease ends", async () => {
    vi.spyOn(console, "error").mockImplementation(() => {});
    fixJitter(0);
    const note = makeNote();
    const provider = idempotentResend();

    const lost = await runQueue("notes", [messageOf(note)], ledgerFailing({ after: ["claim"] }));
    expect(lost.retryMessages).toHaveLength(1);
    expect(provider.requests).toHaveLength(0);

    // Redelivered while the lost claim's lease lasts: it waits for it, still sending nothing.
    const early = messageOf(note, { attempts: 2 });
    const waiting = await runQueue("notes", [early]);
    expect(waiting.retryMessages[0]?.delaySeconds).toBeGreaterThan(30);
    expect(provider.requests).toHaveLength(0);

    await expireLeases();
    const late = messageOf(note, { attempts: 3 });
    const result = await runQueue("notes", [late]);

    expect(result.explicitAcks).toEqual([late.id]);
    expect(provider.emails.get(note.id)).toBe(1);
    expect(await recordOf(note.id)).toMatchObject({ state: "sent" });
  });
});

describe("an invocation killed after the provider took its request", () => {
  it("acks nothing, and its redelivery sends the identical request, which the provider answers from its key", async () => {
    vi.spyOn(console, "error").mockImplementation(() => {});
    const notes = makeNotes(2);
    const provider = idempotentResend();

    // Killed at the await of the ledger's settle: the provider took the request, nobody recorded it.
    const killed = await runQueue(
      "notes",
      notes.map((note) => messageOf(note)),
      ledgerFailing({ before: ["settle"] }),
    );
    expect(killed.explicitAcks).toEqual([]);
    expect(killed.retryMessages).toHaveLength(2);

    await expireLeases();
    const messages = notes.map((note) => messageOf(note, { attempts: 2 }));
    const result = await runQueue("notes", messages);

    expect(sorted(result.explicitAcks)).toEqual(sorted(ids(messages)));
    const [first, second] = provider.requests as [SeenRequest, SeenRequest];
    expect(provider.requests).toHaveLength(2);
    expect(second.headers.get("idempotency-key")).toBe(first.headers.get("idempotency-key"));
    expect(second.body).toEqual(first.body);
    for (const note of notes) {
      expect(provider.emails.get(note.id)).toBe(1);
      expect(await ledgerNote(note.id)).toMatchObject({ state: "sent", request_key: null });
    }
  });
});

describe("two invocations overlapping on one note", () => {
  it("send it once: the second waits for the first's request instead of sending beside it", async () => {
    const note = makeNote();
    const seen: SeenRequest[] = [];
    let release: () => void = () => {};
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    let arrived: () => void = () => {};
    const inFlight = new Promise<void>((resolve) => {
      arrived = resolve;
    });
    mockProvider(async (request) => {
      seen.push(request);
      arrived();
      await gate;
      return resendAccepted(request);
    });

    const first = runQueue("notes", [messageOf(note)]);
    await inFlight;
    const copy = messageOf(note);
    const second = await runQueue("notes", [copy]);
    release();
    const firstResult = await first;

    expect(seen).toHaveLength(1);
    expect(firstResult.explicitAcks).toHaveLength(1);
    expect(second.explicitAcks).toEqual([]);
    expect(second.retryMessages).toEqual([{ msgId: copy.id, delaySeconds: expect.any(Number) }]);

    // The copy comes back after its wait: the note is sent, nothing more goes out.
    const back = messageOf(note, { attempts: 2 });
    expect((await runQueue("notes", [back])).explicitAcks).toEqual([back.id]);
    expect(seen).toHaveLength(1);
  });

  it("send each of many notes once when every note is in both batches", async () => {
    const notes = makeNotes(20);
    const provider = idempotentResend();

    const [a, b] = await Promise.all([
      runQueue(
        "notes",
        notes.map((note) => messageOf(note)),
      ),
      runQueue(
        "notes",
        notes.map((note) => messageOf(note)),
      ),
    ]);

    for (const note of notes) expect(provider.emails.get(note.id)).toBe(1);
    expect(a.explicitAcks.length + b.explicitAcks.length + a.retryMessages.length + b.retryMessages.length).toBe(40);
  });
});
