/**
 * The fault run: a few hundred notes while the provider fails about 30 % of requests transiently
 * (seeded, so a failing run can be replayed) and rate-limits at Resend's 2 requests per second.
 * Every note ingest accepted must end sent with exactly one email at the provider, or dead:
 * none lost, none twice.
 */

import { afterAll, beforeAll, expect, it } from "vitest";
import { type Stack, startStack } from "../scripts/stack.ts";
import { emailsByNote, FAST_RETRY_VARS, makeNote, type Note, postNote, waitForFinalStates } from "./notes.ts";

const NOTES = 300;
/**
 * Notes posted per wave, one wave every 500 ms: 30 notes a second, so that deliver sees a dozen
 * batches rather than three full ones, and the faults have requests to strike.
 */
const WAVE = 15;
const WAVE_INTERVAL_MS = 500;
/** Bounds one note's retries of a 429 or 503 from ingest. */
const POST_ATTEMPTS = 5;
/** Seed 42 fails the 3rd and 4th upstream requests already, so every run meets faults. */
const FAULTS = { seed: 42, errorRate: { "500": 0.1, "502": 0.1, "503": 0.1 } };

let stack: Stack;

beforeAll(async () => {
  stack = await startStack({
    ingestPort: 0,
    providerPort: 0,
    ephemeral: true,
    deliverVars: FAST_RETRY_VARS,
    provider: { rateLimitPerSecond: 2, faults: FAULTS },
  });
});

afterAll(async () => {
  await stack?.stop();
});

/** Posts a note like a client does: the same frame again on 429 or 503, after Retry-After. */
async function post(note: Note): Promise<boolean> {
  for (let attempt = 1; attempt <= POST_ATTEMPTS; attempt++) {
    const res = await postNote(stack, note);
    if (res.status === 202) return true;
    if (res.status !== 429 && res.status !== 503) return false;
    const retryAfter = Number(res.headers.get("retry-after") ?? "1");
    await new Promise((resolve) => setTimeout(resolve, Math.min(retryAfter, 5) * 1000));
  }
  return false;
}

it(`delivers each of ${NOTES} accepted notes once or dead-letters it, through ~30 % provider failures`, async () => {
  // One recipient per note: a client token is bound to its recipient and ingest limits each token.
  const notes = await Promise.all(
    Array.from({ length: NOTES }, (_, i) => makeNote(`fault run note ${i}`, `reader${i}@example.com`)),
  );
  const accepted: string[] = [];
  for (let start = 0; start < notes.length; start += WAVE) {
    const pacing = new Promise((resolve) => setTimeout(resolve, WAVE_INTERVAL_MS));
    const wave = notes.slice(start, start + WAVE);
    const results = await Promise.all(wave.map(post));
    wave.forEach((note, i) => {
      if (results[i]) accepted.push(note.id);
    });
    await pacing;
  }

  const states = await waitForFinalStates(stack, accepted, 130_000);
  const inbox = await emailsByNote(stack);
  const stats = (await (await fetch(`${stack.providerUrl}/_control/stats`)).json()) as {
    requests: number;
    byStatus: Record<string, number>;
  };

  const count = (predicate: (id: string) => boolean) => accepted.filter(predicate).length;
  const emails = (id: string) => inbox.get(id)?.length ?? 0;
  const state = (id: string) => states.get(id);
  const sent = count((id) => state(id) === "sent" && emails(id) === 1);
  const dead = count((id) => state(id) === "dead" && emails(id) === 0);
  const duplicated = count((id) => emails(id) > 1);
  const lost = accepted.length - sent - dead - duplicated;
  const injected = (stats.byStatus["500"] ?? 0) + (stats.byStatus["502"] ?? 0) + (stats.byStatus["503"] ?? 0);
  console.log(
    `fault run: ${accepted.length} accepted, ${sent} sent, ${dead} dead, ${lost} lost, ${duplicated} duplicated, ` +
      `${stats.requests} upstream requests (${injected} failed by injection, ${stats.byStatus["429"] ?? 0} rate-limited)`,
  );

  const unaccounted = accepted
    .filter((id) => !(state(id) === "sent" && emails(id) === 1) && !(state(id) === "dead" && emails(id) === 0))
    .slice(0, 10)
    .map((id) => ({ id, state: state(id), emails: emails(id) }));
  expect(unaccounted).toEqual([]);
  expect(accepted).toHaveLength(NOTES);
  expect(injected).toBeGreaterThan(0);
});
