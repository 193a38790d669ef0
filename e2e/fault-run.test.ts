/**
 * The fault run: thousands of notes, each posted twice by a client whose first answer was lost,
 * while the provider fails transiently in every way it can (5xx, 429 bursts and its rate limit,
 * hangs, and requests it processes but whose answer never comes back, by a reset connection or an
 * answer held until the client gives up). The faults are transient and seeded, so every note ingest
 * accepted must end `sent` with exactly one email in the local inbox: none duplicated, none lost,
 * none failed.
 */

import { setTimeout as sleep } from "node:timers/promises";
import type { FaultsInput } from "@notepipe/local-provider";
import { type LocalStack as Stack, startStack } from "@notepipe/local-stack";
import { afterAll, beforeAll, expect, it } from "vitest";
import {
  emailsByNote,
  FAST_RETRY_VARS,
  FATES,
  type Fate,
  fateOf,
  makeNote,
  type Note,
  postAsClient,
  sleepUntil,
  waitForFinalStates,
} from "./notes.ts";

const NOTES = 2000;
/** A steady client load: 25 notes a second (50 posts with the re-posts), so posting takes 80 s. */
const NOTES_PER_SECOND = 25;
/** A client that did not get its 202 posts the same frame again, with the same token. */
const REPOST_AFTER_MS = 500;
/**
 * The mix of faults in force throughout. The seed fixes which of the provider's requests, in the
 * order they come, meet which fault.
 */
const FAULTS = {
  seed: 42,
  errorRate: { "500": 0.05, "502": 0.05, "503": 0.05 },
  hangRate: 0.06,
  loseAnswerRate: { reset: 0.08, hold: 0.08 },
} satisfies FaultsInput;
/** Resend's own limit: 2 requests a second, so the provider's 429s come on top of the bursts. */
const PROVIDER_RATE_LIMIT = 2;
/**
 * Bursts of 429s, as during a traffic spike at the provider, at these fractions of the posting
 * time. Deliver sends one request per batch, fewer than one a second here, so a burst of 4 already
 * stalls it for several seconds.
 */
const BURSTS_AT = [0.25, 0.5, 0.75];
const BURST_LENGTH = 4;
/**
 * A hang or a held answer costs deliver its whole timeout with its one consumer, so it is short;
 * the retry delays too, so that a note's several retries fit in the run.
 */
const DELIVER_VARS = { ...FAST_RETRY_VARS, MAIL_TIMEOUT_SECONDS: "3" };
/** How long the notes may take, after the last post, to reach a final state. */
const DRAIN_TIMEOUT_MS = 90_000;
/**
 * A note's second copy may wait in the queue for the lease of the request that holds the note
 * (the timeout, the pacing cap and 10 s, per request its invocation sends: 23–69 s here), and a copy
 * wrongly sent then is a duplicate too: the inbox is read no sooner than this after the last post.
 */
const LATE_COPIES_MS = 65_000;
/** After that, the provider is watched until it has had no send request for this long… */
const QUIET_MS = 3_000;
/** …or this long at most, so that a send still in flight is counted. */
const QUIET_WAIT_MAX_MS = 15_000;

const POSTING_MS = (NOTES * 1000) / NOTES_PER_SECOND;

let stack: Stack;

beforeAll(async () => {
  stack = await startStack({
    ingestPort: 0,
    providerPort: 0,
    ephemeral: true,
    deliverVars: DELIVER_VARS,
    provider: { rateLimitPerSecond: PROVIDER_RATE_LIMIT, faults: FAULTS },
  });
});

afterAll(async () => {
  await stack?.stop();
});

interface ProviderStats {
  requests: number;
  byStatus: Record<string, number>;
  hung: number;
  answersLost: { reset: number; hold: number };
  replayed: number;
}

async function providerStats(): Promise<ProviderStats> {
  return (await fetch(`${stack.providerUrl}/_control/stats`)).json() as Promise<ProviderStats>;
}

/** Posts note i at its slot of the steady rate, and again REPOST_AFTER_MS later; true if either got a 202. */
async function postTwice(note: Note, i: number, start: number): Promise<boolean> {
  await sleepUntil(start + (i * 1000) / NOTES_PER_SECOND);
  const first = postAsClient(stack, note);
  await sleep(REPOST_AFTER_MS);
  const second = postAsClient(stack, note);
  const [firstAccepted, secondAccepted] = await Promise.all([first, second]);
  return firstAccepted || secondAccepted;
}

/** A burst of 429s at each of BURSTS_AT. Setting faults restarts the generator: each burst gets its own seed. */
async function burstsOf429(start: number): Promise<void> {
  for (const [k, fraction] of BURSTS_AT.entries()) {
    await sleepUntil(start + fraction * POSTING_MS);
    const res = await fetch(`${stack.providerUrl}/_control/faults`, {
      method: "POST",
      body: JSON.stringify({ ...FAULTS, seed: FAULTS.seed + k + 1, burst429: BURST_LENGTH }),
    });
    expect(res.status).toBe(200);
  }
}

/** Until the provider has seen no send request for QUIET_MS, at most QUIET_WAIT_MAX_MS. */
async function untilProviderQuiet(): Promise<void> {
  const deadline = performance.now() + QUIET_WAIT_MAX_MS;
  let last = (await providerStats()).requests;
  let quietSince = performance.now();
  while (performance.now() < deadline && performance.now() - quietSince < QUIET_MS) {
    await sleep(500);
    const now = (await providerStats()).requests;
    if (now !== last) quietSince = performance.now();
    last = now;
  }
}

function describeUpstream(stats: ProviderStats): string {
  const statuses = Object.entries(stats.byStatus)
    .sort(([a], [b]) => Number(a) - Number(b))
    .map(([status, count]) => `${count} × ${status}`);
  const { reset, hold } = stats.answersLost;
  return (
    `${stats.requests} upstream requests (${statuses.join(", ")}; ${stats.hung} hung, ` +
    `${reset} answers lost by reset, ${hold} held; ${stats.replayed} replayed by idempotency key)`
  );
}

it(
  `sends each of ${NOTES} notes, each posted twice, exactly once through 5xx, 429 bursts, hangs and lost answers`,
  async () => {
    const began = performance.now();
    // One recipient per note: a client token is bound to its recipient and ingest limits each token.
    const notes = await Promise.all(
      Array.from({ length: NOTES }, (_, i) => makeNote(`fault run note ${i}`, `reader${i}@example.com`)),
    );
    const start = performance.now();
    const [results] = await Promise.all([
      Promise.all(notes.map((note, i) => postTwice(note, i, start))),
      burstsOf429(start),
    ]);
    const accepted = notes.filter((_, i) => results[i]).map((note) => note.id);
    const postingEnded = performance.now();

    await waitForFinalStates(stack, accepted, DRAIN_TIMEOUT_MS);
    await sleepUntil(postingEnded + LATE_COPIES_MS);
    await untilProviderQuiet();
    const inbox = await emailsByNote(stack);
    const stats = await providerStats();
    // Read after the inbox, so that a note emailed meanwhile is not taken for one without a record.
    const states = await waitForFinalStates(stack, accepted, 0);

    const byFate = new Map<Fate, string[]>(FATES.map((fate) => [fate, []]));
    for (const id of accepted) byFate.get(fateOf(states.get(id), inbox.get(id)?.length ?? 0))?.push(id);
    const count = (fate: Fate) => byFate.get(fate)?.length ?? 0;
    const seconds = Math.round((performance.now() - began) / 1000);
    console.log(
      `fault run: ${accepted.length} accepted, ${count("sent once")} sent once, ${count("duplicated")} duplicated, ` +
        `${count("lost")} lost, ${count("failed")} failed, ${count("unsettled")} unsettled, in ${seconds} s; ` +
        describeUpstream(stats),
    );

    // A few of each wrong fate, with the status ingest answers for them (attempts, error).
    const sample = (fate: Fate) =>
      Promise.all(
        (byFate.get(fate) ?? []).slice(0, 3).map(async (id) => ({
          ...((await (await fetch(`${stack.ingestUrl}/v1/notes/${id}`)).json()) as object),
          emails: inbox.get(id)?.length ?? 0,
        })),
      );
    expect({
      duplicated: await sample("duplicated"),
      lost: await sample("lost"),
      failed: await sample("failed"),
      unsettled: await sample("unsettled"),
    }).toEqual({ duplicated: [], lost: [], failed: [], unsettled: [] });
    expect({ accepted: accepted.length, sentOnce: count("sent once") }).toEqual({ accepted: NOTES, sentOnce: NOTES });
    // The run met every fault it is about.
    const serverErrors = ["500", "502", "503"].reduce((sum, status) => sum + (stats.byStatus[status] ?? 0), 0);
    expect(serverErrors).toBeGreaterThan(0);
    expect(stats.byStatus["429"]).toBeGreaterThan(0);
    expect(stats.hung).toBeGreaterThan(0);
    expect(stats.answersLost.reset).toBeGreaterThan(0);
    expect(stats.answersLost.hold).toBeGreaterThan(0);
  },
  POSTING_MS + DRAIN_TIMEOUT_MS + QUIET_WAIT_MAX_MS + 30_000,
);
