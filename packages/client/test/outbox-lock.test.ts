/**
 * One drainer at a time where there are no Web Locks (Node here, React Native): the lease in the
 * store. Chromium's Web Locks are tested in examples/web/test/outbox-browser.test.ts.
 */

import { decodeFrame, noteIdToUuid } from "@notepipe/frame";
import { describe, expect, it } from "vitest";
import {
  createOutbox,
  keepNewKey,
  LEASE_MS,
  MemoryKeyStore,
  MemoryOutboxStore,
  type OutboxConfig,
} from "../src/index.ts";
import { json } from "./fake-ingest.ts";

const ENDPOINT = "https://ingest.test";
const TOKEN = "np1.dev.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
const keys = new MemoryKeyStore();
const { id: keyId } = await keepNewKey(keys);

/** A fetch whose POSTs wait until `answer()` lets the oldest one through: a drain held mid-request. */
function heldIngest() {
  const posted: string[] = [];
  const waiting: (() => void)[] = [];
  let arrived: () => void = () => {};
  const fetch: typeof globalThis.fetch = async (input, init) => {
    const request = new Request(input, init);
    if (request.url.endsWith("/v1/notes/status")) {
      const { ids } = (await request.json()) as { ids: string[] };
      return json(200, { notes: ids.map((id) => ({ id, state: "unknown" })) });
    }
    const decoded = decodeFrame(new Uint8Array(await request.arrayBuffer()));
    if (!decoded.ok) throw new Error(decoded.message);
    const id = noteIdToUuid(decoded.frame.noteId);
    posted.push(id);
    await new Promise<void>((resolve) => {
      waiting.push(resolve);
      arrived();
    });
    return json(202, { id });
  };
  return {
    fetch,
    posted,
    /** Settles once a POST is waiting. */
    arrival: () =>
      new Promise<void>((resolve) => {
        if (waiting.length > 0) resolve();
        else arrived = resolve;
      }),
    answer: () => waiting.shift()?.(),
  };
}

function outboxOver(store: MemoryOutboxStore, config: Partial<OutboxConfig>) {
  return createOutbox({ endpoint: ENDPOINT, keys, store, ...config });
}

describe("one drainer at a time", () => {
  it("leaves a second drainer nothing to do while the first holds the outbox", async () => {
    const store = new MemoryOutboxStore();
    const ingest = heldIngest();
    const first = outboxOver(store, { fetch: ingest.fetch });
    const second = outboxOver(store, { fetch: ingest.fetch });
    const id = await first.enqueue({ to: "ada@example.com", text: "x", token: TOKEN });

    const firstDrain = first.drain();
    await ingest.arrival();
    const secondDrain = await second.drain();
    ingest.answer();

    expect(secondDrain).toEqual({
      drained: false,
      changes: [],
      notes: [{ id, state: "queued", createdAt: expect.any(Number), keyId }],
      error: undefined,
    });
    expect((await firstDrain).changes).toEqual([{ id, previous: "queued", state: "accepted" }]);
    expect(ingest.posted).toEqual([id]);
  });

  it("releases the lease when a drain ends", async () => {
    const store = new MemoryOutboxStore();
    const ingest = heldIngest();
    const outbox = outboxOver(store, { fetch: ingest.fetch });
    await outbox.enqueue({ to: "ada@example.com", text: "x", token: TOKEN });

    const drain = outbox.drain();
    await ingest.arrival();
    expect(await store.updateLease((lease) => lease)).toMatchObject({ owner: expect.any(String) });
    ingest.answer();
    await drain;

    expect(await store.updateLease((lease) => lease)).toBeUndefined();
  });

  it("lets another drainer take over once a killed drainer's lease has lapsed", async () => {
    let now = Date.UTC(2026, 0, 1);
    const store = new MemoryOutboxStore();
    // What a drainer killed mid-drain leaves behind: its lease, never released.
    await store.updateLease(() => ({ owner: "killed", until: now + LEASE_MS }));
    const ingest = heldIngest();
    const outbox = outboxOver(store, { fetch: ingest.fetch, now: () => now });
    const id = await outbox.enqueue({ to: "ada@example.com", text: "x", token: TOKEN });

    expect((await outbox.drain()).drained).toBe(false);
    now += LEASE_MS;
    const drain = outbox.drain();
    await ingest.arrival();
    ingest.answer();

    expect((await drain).drained).toBe(true);
    expect(ingest.posted).toEqual([id]);
  });
});
