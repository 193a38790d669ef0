/**
 * Kill anywhere: the app dies at any point of `enqueue` or `drain`, a fresh client starts over the
 * same store, and on the real local stack every note that reached the store ends as exactly one
 * email: none lost, none twice.
 *
 * The client is stopped at its effects, the only places where stopping differs: after each store
 * call and each request has taken effect, and before its answer reaches the client (for a POST,
 * that is the 202 lost on the way back). Every other await of `enqueue` and `drain` (encryption,
 * reading a body) lies between two of these and, stopped there, leaves the same storage and the same
 * server behind as stopping right after the effect before it.
 */

import {
  type ClientNoteState,
  createOutbox,
  DEFAULT_FINAL_STATES,
  decrypt,
  keepNewKey,
  LEASE_MS,
  MemoryKeyStore,
  MemoryOutboxStore,
  type OutboxNote,
  type OutboxStore,
} from "@notepipe/client";
import type { InboxEmail } from "@notepipe/local-provider";
import { type LocalStack as Stack, startStack } from "@notepipe/local-stack";
import { parseTokenSecrets, signClientToken } from "@notepipe/token";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FAST_RETRY_VARS } from "./notes.ts";

/** Without delivery webhooks the stack's notes end `sent`, so the outbox follows them that far. */
const FINAL_STATES: readonly ClientNoteState[] = ["sent", ...DEFAULT_FINAL_STATES];
const NOTES_PER_RUN = 2;
/** Random schedules on top of the examples that stop the client once at each effect. */
const RANDOM_RUNS = 12;
/** Drains one app start makes at most; deliver batches a lone note for up to 2 s, retries in 1–2 s. */
const DRAINS_PER_START = 120;
const DRAIN_PAUSE_MS = 250;

let stack: Stack;
/** Where the key lives, outside any one app start: as a durable key store keeps it through a kill. */
const keys = new MemoryKeyStore();
const { key } = await keepNewKey(keys);

beforeAll(async () => {
  stack = await startStack({ ingestPort: 0, providerPort: 0, ephemeral: true, deliverVars: FAST_RETRY_VARS });
});

afterAll(async () => {
  await stack?.stop();
});

class Killed extends Error {
  override name = "Killed";
}

/**
 * One run of the app, stopped after its `killAfter`-th effect (0: before the first). From then on
 * every store call and request fails without effect, as in a process that is gone; a lease it held
 * stays in the store, as a killed app's does.
 */
function appProcess(durable: OutboxStore, killAfter: number | undefined) {
  let effects = 0;
  let dead = killAfter === 0;
  const effect = async <T>(run: () => Promise<T>): Promise<T> => {
    if (dead) throw new Killed();
    const result = await run();
    if (++effects === killAfter) dead = true;
    if (dead) throw new Killed();
    return result;
  };
  const store: OutboxStore = {
    name: durable.name,
    list: () => effect(() => durable.list()),
    put: (record) => effect(() => durable.put(record)),
    delete: (ids) => effect(() => durable.delete(ids)),
    updateLease: (next) => effect(() => durable.updateLease(next)),
  };
  const fetchOnce: typeof fetch = (input, init) => effect(() => fetch(input, init));
  return { store, fetch: fetchOnce, effects: () => effects, dead: () => dead };
}

interface Draft {
  to: string;
  text: string;
}

async function tokenFor(recipient: string): Promise<string> {
  const secrets = parseTokenSecrets(stack.tokenSecrets);
  return signClientToken(secrets, secrets.keys().next().value as string, recipient);
}

/**
 * What the app does on each start: write the drafts it has not tried to write yet (a draft whose
 * `enqueue` was under way when the app died is not written twice), then drain until every note is
 * final. Answers the notes, or stops at the kill.
 */
async function startApp(
  app: ReturnType<typeof appProcess>,
  clockOffsetMs: number,
  drafts: Draft[],
  written: Map<Draft, string | undefined>,
): Promise<{ notes: OutboxNote[] | undefined; effectsToFirstDrain: number }> {
  const outbox = createOutbox({
    endpoint: stack.ingestUrl,
    keys,
    store: app.store,
    fetch: app.fetch,
    finalStates: FINAL_STATES,
    now: () => Date.now() + clockOffsetMs,
  });
  let effectsToFirstDrain = 0;
  try {
    for (const draft of drafts.filter((d) => !written.has(d))) {
      written.set(draft, undefined);
      written.set(draft, await outbox.enqueue({ ...draft, token: await tokenFor(draft.to) }));
    }
    for (let drain = 0; drain < DRAINS_PER_START; drain++) {
      const { notes } = await outbox.drain();
      if (drain === 0) effectsToFirstDrain = app.effects();
      if (app.dead()) return { notes: undefined, effectsToFirstDrain };
      if (notes.every((note) => (FINAL_STATES as readonly string[]).includes(note.state))) {
        return { notes, effectsToFirstDrain };
      }
      await new Promise((resolve) => setTimeout(resolve, DRAIN_PAUSE_MS));
    }
    throw new Error(`Notes not final after ${DRAINS_PER_START} drains.`);
  } catch (error) {
    if (app.dead()) return { notes: undefined, effectsToFirstDrain };
    throw error;
  }
}

/** What the provider received for `recipients`. */
function inboxFor(recipients: string[]): InboxEmail[] {
  return stack.provider.state.inbox.list().filter((email) => email.to.some((to) => recipients.includes(to)));
}

let runs = 0;

/**
 * Runs the app with one start per kill in `kills`, then one that is not killed, and checks the
 * store and the inbox. Answers how many effects the last start had, in all and up to its first
 * drain's end.
 */
async function killedAt(kills: number[]): Promise<{ effects: number; effectsToFirstDrain: number }> {
  const run = ++runs;
  const drafts = Array.from({ length: NOTES_PER_RUN }, (_, i) => ({
    // One recipient per note: one token each, far below ingest's 60 requests a minute per token.
    to: `kill-${run}-${i}@example.com`,
    text: `Note ${i} of run ${run}, killed at [${kills.join(", ")}].`,
  }));
  const durable = new MemoryOutboxStore();
  const written = new Map<Draft, string | undefined>();
  let clockOffsetMs = 0;
  let notes: OutboxNote[] | undefined;
  let effects = 0;
  let effectsToFirstDrain = 0;
  for (const killAfter of [...kills, undefined]) {
    const app = appProcess(durable, killAfter);
    ({ notes, effectsToFirstDrain } = await startApp(app, clockOffsetMs, drafts, written));
    effects = app.effects();
    if (notes !== undefined) break;
    // Time passes before the next start: long enough for the killed app's lease to lapse.
    clockOffsetMs += LEASE_MS;
  }

  const stored = await durable.list();
  const storedIds = stored.map((record) => record.id).sort();
  expect(notes?.map((note) => note.id).sort()).toEqual(storedIds);
  // Deliver writes `sent` once the provider took the email: from then on the inbox has it.
  expect(stored.filter((record) => record.state !== "sent")).toEqual([]);
  for (const id of written.values()) if (id !== undefined) expect(storedIds).toContain(id);

  // One email per stored note, and none for a draft whose enqueue died before its write.
  const emails = inboxFor(drafts.map((draft) => draft.to));
  expect(emails.map((email) => email.noteId).sort()).toEqual(storedIds);
  for (const email of emails) {
    const draft = drafts.find((d) => email.to.includes(d.to));
    expect(await decrypt(email.text ?? "", key)).toBe(draft?.text);
  }
  return { effects, effectsToFirstDrain };
}

describe("the outbox, killed anywhere", () => {
  it("turns every note that reached the store into exactly one email", { timeout: 600_000 }, async () => {
    // A run that is never killed counts the effects: each one of enqueue and of the first drain
    // (every distinct await) is a kill point of its own; the later drains repeat the first's.
    const { effects, effectsToFirstDrain } = await killedAt([]);
    const single = Array.from({ length: effectsToFirstDrain + 1 }, (_, k): [number[]] => [[k]]);

    await fc.assert(
      fc.asyncProperty(fc.array(fc.nat({ max: effects + 6 }), { minLength: 1, maxLength: 3 }), async (kills) => {
        await killedAt(kills);
      }),
      // No shrinking: each run takes seconds on the real stack, and a failing schedule is short already.
      { examples: single, numRuns: single.length + RANDOM_RUNS, endOnFailure: true },
    );
  });
});
