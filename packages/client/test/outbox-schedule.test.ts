/**
 * `outbox.start()`: when drains run while the app does. Timers are vitest's fake ones, so a wait of
 * a minute is checked without a minute passing.
 */

import { decodeFrame, noteIdToUuid } from "@notepipe/frame";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import {
  createOutbox,
  type DrainResult,
  keepNewKey,
  MemoryKeyStore,
  MemoryOutboxStore,
  type OutboxConfig,
  type OutboxStore,
} from "../src/index.ts";
import { type Answer, apiError, fakeIngest, json, type RecordedRequest } from "./fake-ingest.ts";

const ENDPOINT = "https://ingest.test";
const TOKEN = "np1.dev.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
const keys = new MemoryKeyStore();
await keepNewKey(keys);

beforeEach(() => {
  vi.useFakeTimers();
});

afterEach(() => {
  vi.useRealTimers();
});

const accepted = (request: RecordedRequest) => {
  const decoded = decodeFrame(request.body);
  if (!decoded.ok) throw new Error(decoded.message);
  return json(202, { id: noteIdToUuid(decoded.frame.noteId) });
};

const status = (state: string) => (request: RecordedRequest) => {
  const { ids } = JSON.parse(new TextDecoder().decode(request.body)) as { ids: string[] };
  return json(200, { notes: ids.map((id) => ({ id, state, attempts: 1, updatedAt: state })) });
};

/** The drains `start()` reports, and a way to wait for the n-th. */
function drainLog() {
  const results: DrainResult[] = [];
  const errors: unknown[] = [];
  const waiters: { count: number; resolve: () => void }[] = [];
  const settle = () => {
    for (const waiter of waiters.filter((w) => results.length + errors.length >= w.count)) waiter.resolve();
  };
  return {
    results,
    errors,
    listener: {
      onDrain: (result: DrainResult) => {
        results.push(result);
        settle();
      },
      onError: (error: unknown) => {
        errors.push(error);
        settle();
      },
    },
    /** Settles once `count` drains have been reported in all. */
    reported: (count: number) =>
      new Promise<void>((resolve) => {
        waiters.push({ count, resolve });
        settle();
      }),
  };
}

function setup(answers: Answer[], config: Partial<OutboxConfig> = {}) {
  const ingest = fakeIngest(answers);
  const store = new MemoryOutboxStore();
  const outbox = createOutbox({
    endpoint: ENDPOINT,
    keys,
    fetch: ingest.fetch,
    store,
    pollIntervalMs: 1000,
    ...config,
  });
  return { ...ingest, outbox, store, log: drainLog() };
}

const posts = (requests: RecordedRequest[]) => requests.filter((request) => request.url.endsWith("/v1/notes"));

describe("start", () => {
  it("drains at once, polls every pollIntervalMs while a note is in flight, and stops once it is final", async () => {
    const { outbox, requests, log } = setup([accepted, status("queued"), status("sent"), status("delivered")]);
    await outbox.enqueue({ to: "ada@example.com", text: "x", token: TOKEN });

    const stop = outbox.start(log.listener);
    await log.reported(1);
    await vi.advanceTimersByTimeAsync(1000);
    await log.reported(2);
    await vi.advanceTimersByTimeAsync(1000);
    await log.reported(3);

    expect(log.results.map((result) => result.notes[0]?.state)).toEqual(["accepted", "sent", "delivered"]);
    expect(requests).toHaveLength(4);
    expect(vi.getTimerCount()).toBe(0);
    stop();
  });

  it("drains right after an enqueue", async () => {
    const { outbox, log } = setup([accepted, status("queued")]);
    const stop = outbox.start(log.listener);
    await log.reported(1);

    const id = await outbox.enqueue({ to: "ada@example.com", text: "x", token: TOKEN });
    await log.reported(2);

    expect(log.results[1]?.changes).toEqual([{ id, previous: "queued", state: "accepted" }]);
    stop();
  });

  it("waits at least the server's Retry-After before the next try", async () => {
    const { outbox, requests, log } = setup([
      apiError(429, "rate_limited", "Too many notes for this token.", { "retry-after": "60" }),
      accepted,
      status("queued"),
    ]);
    await outbox.enqueue({ to: "ada@example.com", text: "x", token: TOKEN });

    const stop = outbox.start(log.listener);
    await log.reported(1);
    await vi.advanceTimersByTimeAsync(59_999);
    expect(posts(requests)).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    await log.reported(2);

    expect(posts(requests)).toHaveLength(2);
    expect(log.results.map((result) => result.notes[0]?.state)).toEqual(["queued", "accepted"]);
    stop();
  });

  it("backs off exponentially with full jitter while there is no network", async () => {
    vi.spyOn(Math, "random").mockReturnValue(0.5);
    const offline = () => new TypeError("fetch failed");
    const { outbox, requests, log } = setup([offline(), offline(), offline(), offline()]);
    await outbox.enqueue({ to: "ada@example.com", text: "x", token: TOKEN });

    const stop = outbox.start(log.listener);
    const triedAt: number[] = [];
    for (let drain = 1; drain <= 4; drain++) {
      if (drain > 1) await vi.advanceTimersToNextTimerAsync();
      await log.reported(drain);
      triedAt.push(Date.now());
    }
    stop();

    // 500 ms × 2^(n-1), halved by the jitter: 250, 500, 1000 ms between the tries.
    expect(triedAt.slice(1).map((at, i) => at - (triedAt[i] as number))).toEqual([250, 500, 1000]);
    expect(posts(requests)).toHaveLength(4);
  });

  it("reports a storage failure and tries again later", async () => {
    const store = new MemoryOutboxStore();
    let broken = true;
    const flaky: OutboxStore = {
      name: store.name,
      list: () => (broken ? Promise.reject(new DOMException("closed", "InvalidStateError")) : store.list()),
      put: (record) => store.put(record),
      delete: (ids) => store.delete(ids),
      updateLease: (next) => store.updateLease(next),
    };
    const { outbox, log } = setup([], { store: flaky });

    const stop = outbox.start(log.listener);
    await log.reported(1);
    broken = false;
    await vi.advanceTimersToNextTimerAsync();
    await log.reported(2);
    stop();

    expect(log.errors).toEqual([expect.objectContaining({ code: "storage_failed" })]);
    expect(log.results).toEqual([{ drained: true, changes: [], notes: [], error: undefined }]);
    expect(vi.getTimerCount()).toBe(0);
  });

  it("does nothing more once stopped", async () => {
    const { outbox, requests, log } = setup([new TypeError("fetch failed")]);
    await outbox.enqueue({ to: "ada@example.com", text: "x", token: TOKEN });

    const stop = outbox.start(log.listener);
    await log.reported(1);
    stop();
    await vi.runAllTimersAsync();

    expect(requests).toHaveLength(1);
  });
});
