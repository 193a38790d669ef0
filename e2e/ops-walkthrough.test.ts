/**
 * The operator's walk-through of packages/ops-cli/README.md, on a real local stack with the
 * real `pnpm ops`: the provider rejects every send (its control endpoint), the notes dead-letter,
 * the fault is cleared, `pnpm ops dlq replay --all` puts them back, and each ends `delivered`
 * (through the provider's signed webhook) with exactly one email. Replaying again sends nothing.
 */

import { type LocalStack as Stack, startStack } from "@notepipe/local-stack";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { emailsByNote, makeNote, type Note, postNote, setFaults, waitForFinalStates } from "./notes.ts";
import { type OpsRun, runOps } from "./ops-run.ts";

/**
 * Retries in seconds, not hours: a pipeline-level refusal (an unverified sender) waits
 * PIPELINE_RETRY_SECONDS between deliveries, and Queues dead-letters a note after 11 of them.
 */
const DRILL_VARS = { RETRY_BASE_SECONDS: "1", RETRY_MAX_SECONDS: "2", PIPELINE_RETRY_SECONDS: "1" };

let stack: Stack;

beforeAll(async () => {
  stack = await startStack({
    ingestPort: 0,
    providerPort: 0,
    ephemeral: true,
    deliveryWebhooks: true,
    deliverVars: DRILL_VARS,
  });
});

afterAll(async () => {
  await stack?.stop();
});

/** `pnpm -s ops …` against this file's stack. */
function ops(...args: string[]): Promise<OpsRun> {
  return runOps(stack, ...args);
}

/** Polls the status route until every note is `state` or the time is up; answers the last states. */
async function waitForState(ids: readonly string[], state: string, timeoutMs: number): Promise<Map<string, string>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const res = await fetch(`${stack.ingestUrl}/v1/notes/status`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ ids }),
    });
    const { notes } = (await res.json()) as { notes: { id: string; state: string }[] };
    const states = new Map(notes.map((note) => [note.id, note.state]));
    if (notes.every((note) => note.state === state) || Date.now() > deadline) return states;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

describe("the operator's walk-through", () => {
  let notes: Note[];

  it("dead-letters every note while the provider rejects the account, and lists them masked", async () => {
    await setFaults(stack.providerUrl, { reject: "domain_not_verified" });
    notes = await Promise.all([
      makeNote("Rejected first.", "ada@example.com"),
      makeNote("Rejected second.", "grace@example.com"),
      makeNote("Rejected third.", "katherine@example.com"),
    ]);
    for (const note of notes) expect((await postNote(stack, note)).status).toBe(202);

    const states = await waitForFinalStates(
      stack,
      notes.map((note) => note.id),
      150_000,
    );
    expect(Object.fromEntries(states)).toEqual(Object.fromEntries(notes.map((note) => [note.id, "dead"])));

    const list = await ops("--json", "dlq", "list");
    expect(list.code).toBe(0);
    const entries = JSON.parse(list.stdout) as { id: string; reason: string; recipient: string }[];
    expect(entries.map((entry) => entry.id).sort()).toEqual(notes.map((note) => note.id).sort());
    expect(new Set(entries.map((entry) => entry.reason))).toEqual(new Set(["sender_not_verified"]));
    expect(entries.map((entry) => entry.recipient).sort()).toEqual([
      "a***@example.com",
      "g***@example.com",
      "k***@example.com",
    ]);
    expect((await emailsByNote(stack)).size).toBe(0);
  }, 200_000);

  it("after the fault is cleared, `pnpm ops dlq replay --all` gets each note delivered, once", async () => {
    await setFaults(stack.providerUrl, {});

    const replay = await ops("dlq", "replay", "--all");
    expect(replay).toMatchObject({ code: 0, stdout: "replayed 3, skipped 0, failed 0, of 3\n" });

    const ids = notes.map((note) => note.id);
    const states = await waitForState(ids, "delivered", 60_000);
    expect(Object.fromEntries(states)).toEqual(Object.fromEntries(ids.map((id) => [id, "delivered"])));
    const inbox = await emailsByNote(stack);
    for (const note of notes) expect(inbox.get(note.id)).toHaveLength(1);
  }, 120_000);

  it("replaying again sends nothing: no dead letter is left, and the same ids are refused as sent", async () => {
    const again = await ops("dlq", "replay", "--all");
    expect(again).toMatchObject({ code: 0, stdout: "nothing to replay: no dead letter matches\n" });

    const byIds = await ops("dlq", "replay", ...notes.map((note) => note.id));
    expect(byIds).toMatchObject({ code: 0, stdout: "replayed 0, skipped 3 (already_sent 3), failed 0, of 3\n" });

    const stats = JSON.parse((await ops("--json", "stats")).stdout) as {
      states: Record<string, number>;
      deadLetters: { total: number };
    };
    expect(stats.states.delivered).toBe(3);
    expect(stats.deadLetters.total).toBe(0);
    const inbox = await emailsByNote(stack);
    for (const note of notes) expect(inbox.get(note.id)).toHaveLength(1);
  });
});
