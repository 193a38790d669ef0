/**
 * The failover run: 1,000 notes through a stack with two local providers, Resend first and
 * Postmark second (MAIL_PROVIDERS = "resend,postmark"), while the primary is down for 30 s and
 * then has its daily quota spent. Every note ingest accepted must end `sent` with exactly one
 * email across both inboxes (none duplicated by the switch, none lost, none failed), notes must
 * have gone through both, traffic must be back on the primary once it recovers, and `pnpm ops
 * stats` must show the switch.
 */

import { execFile } from "node:child_process";
import { readFile } from "node:fs/promises";
import { setTimeout as sleep } from "node:timers/promises";
import type { RunningLocalProvider } from "@notepipe/local-provider";
import { ROOT, type Stack, startStack } from "@notepipe/local-stack";
import type { OpsStats } from "@notepipe/pipeline";
import { afterAll, beforeAll, expect, it } from "vitest";
import {
  FAST_RETRY_VARS,
  FATES,
  type Fate,
  fateOf,
  makeNote,
  postAsClient,
  setFaults,
  sleepUntil,
  waitForFinalStates,
} from "./notes.ts";

const NOTES = 1000;
/** Posting takes 50 s: long enough for an outage and a spent quota in the middle of it. */
const NOTES_PER_SECOND = 20;
/** The primary goes down this far into the posting… */
const OUTAGE_AT_MS = 8_000;
/** …for this long (the local provider answers every send 502, then recovers on its own)… */
const OUTAGE_MS = 30_000;
/** …and then its daily quota is spent for this long, every send refused with 429 daily_quota_exceeded. */
const QUOTA_MS = 8_000;
/** Notes posted once the primary is back and its circuit may be probed: they must go to it. */
const AFTER_NOTES = 20;
/**
 * A 502 or a timeout may have reached the provider, so the notes of such a request wait for the
 * primary (never go to Postmark): a probe every 5 s, doubled per failed probe up to 10 s
 * (PIPELINE_RETRY_SECONDS caps it), keeps their queue deliveries well inside the 11 they have.
 */
const DELIVER_VARS = {
  ...FAST_RETRY_VARS,
  MAIL_TIMEOUT_SECONDS: "5",
  CIRCUIT_FAILURES: "3",
  CIRCUIT_WINDOW_SECONDS: "60",
  CIRCUIT_PROBE_SECONDS: "5",
  PIPELINE_RETRY_SECONDS: "10",
};
/**
 * How long the notes may take, after the last post, to reach a final state: a bound, not a wait
 * (it ends as soon as every note is final), wide for a loaded machine.
 */
const DRAIN_TIMEOUT_MS = 180_000;
/** How long the primary's circuit may take to be due a probe after its quota came back. */
const PROBE_DUE_TIMEOUT_MS = 30_000;

const POSTING_MS = (NOTES * 1000) / NOTES_PER_SECOND;

let stack: Stack;
let opsToken: string;

beforeAll(async () => {
  stack = await startStack({
    ingestPort: 0,
    providerPort: 0,
    ephemeral: true,
    deliverVars: DELIVER_VARS,
    providers: [
      { name: "resend", port: 0 },
      { name: "postmark", port: 0 },
    ],
  });
  opsToken = (JSON.parse(stack.opsTokens) as string[])[0] as string;
});

afterAll(async () => {
  await stack?.stop();
});

/** The local providers in failover order, as `providers` lists them. */
const ORDER = ["resend", "postmark"] as const;

function provider(name: (typeof ORDER)[number]): RunningLocalProvider {
  const found = stack.providers[ORDER.indexOf(name)];
  if (found === undefined) throw new Error(`no local provider ${name}`);
  return found;
}

function setFaultsOf(name: (typeof ORDER)[number], faults: Record<string, unknown>): Promise<void> {
  return setFaults(provider(name).url, faults);
}

/** Emails per note id in one provider's inbox. */
async function inboxOf(name: (typeof ORDER)[number]): Promise<Map<string, number>> {
  const res = await fetch(`${provider(name).url}/inbox`);
  const { emails } = (await res.json()) as { emails: { noteId: string | null }[] };
  const counts = new Map<string, number>();
  for (const { noteId } of emails) if (noteId !== null) counts.set(noteId, (counts.get(noteId) ?? 0) + 1);
  return counts;
}

async function opsStats(): Promise<OpsStats> {
  const res = await fetch(`${stack.ingestUrl}/ops/stats`, { headers: { authorization: `Bearer ${opsToken}` } });
  expect(res.status).toBe(200);
  return (await res.json()) as OpsStats;
}

/** `pnpm -s ops stats` from the repository root, aimed at this stack. */
function opsStatsOutput(): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      "pnpm",
      ["-s", "ops", "stats"],
      {
        cwd: ROOT,
        env: { ...process.env, NOTEPIPE_OPS_URL: stack.ingestUrl, NOTEPIPE_OPS_TOKEN: opsToken },
        timeout: 60_000,
      },
      (error, stdout) => (error === null ? resolve(stdout) : reject(error)),
    );
  });
}

/** The primary's faults, at their times into the posting: down, then out of quota, then well. */
async function primaryFails(start: number): Promise<void> {
  await sleepUntil(start + OUTAGE_AT_MS);
  await setFaultsOf("resend", { outage: "502", forMs: OUTAGE_MS });
  await sleepUntil(start + OUTAGE_AT_MS + OUTAGE_MS);
  await setFaultsOf("resend", { reject: "daily_quota_exceeded", forMs: QUOTA_MS });
}

/**
 * Until the primary's circuit is closed, or due a probe (open past its backoff, or half-open past
 * a probe's hold): the next batch then goes to it. Bounded; the assertions below say what was not.
 */
async function untilPrimaryTakesBatches(): Promise<void> {
  const deadline = Date.now() + PROBE_DUE_TIMEOUT_MS;
  while (Date.now() < deadline) {
    const resend = (await opsStats()).circuits?.find((circuit) => circuit.provider === "resend");
    if (resend?.state === "closed" || Date.parse(resend?.probeAt ?? "") < Date.now()) return;
    await sleep(500);
  }
}

it(
  `sends each of ${NOTES} notes exactly once across two providers while the primary is down, then out of quota`,
  async () => {
    const notes = await Promise.all(
      Array.from({ length: NOTES }, (_, i) => makeNote(`failover note ${i}`, `reader${i}@example.com`)),
    );
    const start = performance.now();
    const [results] = await Promise.all([
      Promise.all(
        notes.map(async (note, i) => {
          await sleepUntil(start + (i * 1000) / NOTES_PER_SECOND);
          return postAsClient(stack, note);
        }),
      ),
      primaryFails(start),
    ]);
    const accepted = notes.filter((_, i) => results[i]).map((note) => note.id);
    await waitForFinalStates(stack, accepted, DRAIN_TIMEOUT_MS);

    // Back on the primary: once its circuit is due a probe, new notes go to it and close it.
    await untilPrimaryTakesBatches();
    const after = await Promise.all(
      Array.from({ length: AFTER_NOTES }, (_, i) => makeNote(`after note ${i}`, `later${i}@example.com`)),
    );
    const afterAccepted = await Promise.all(after.map((note) => postAsClient(stack, note)));
    const afterIds = after.map((note) => note.id);
    await waitForFinalStates(stack, afterIds, DRAIN_TIMEOUT_MS);

    const [atResend, atPostmark] = await Promise.all([inboxOf("resend"), inboxOf("postmark")]);
    const states = await waitForFinalStates(stack, [...accepted, ...afterIds], 0);
    const byFate = new Map<Fate, string[]>(FATES.map((fate) => [fate, []]));
    for (const id of [...accepted, ...afterIds]) {
      const emails = (atResend.get(id) ?? 0) + (atPostmark.get(id) ?? 0);
      byFate.get(fateOf(states.get(id), emails))?.push(id);
    }
    const count = (fate: Fate) => byFate.get(fate)?.length ?? 0;
    const stats = await opsStats();
    console.log(
      `failover run: ${accepted.length} + ${afterIds.length} accepted, ${count("sent once")} sent once ` +
        `(${atResend.size} through resend, ${atPostmark.size} through postmark), ${count("duplicated")} duplicated, ` +
        `${count("lost")} lost, ${count("failed")} failed, ${count("unsettled")} unsettled; ` +
        `states ${JSON.stringify(stats.states)}, unanswered ${stats.unanswered}, circuits ${JSON.stringify(stats.circuits)}`,
    );

    if (stack.wranglerLog !== null) {
      // What the circuits did, from deliver's own lines (a few dozen), for whoever reads the run.
      const log = await readFile(stack.wranglerLog, "utf8");
      const lines = log.split("\n");
      console.log(lines.filter((line) => /deliver: (circuit|provider switch|LEDGER)/.test(line)).join("\n"));
      if (count("sent once") !== NOTES + AFTER_NOTES) {
        // Deliver's last words, for a run that went wrong.
        console.log(
          lines
            .filter((line) => /deliver: /.test(line))
            .slice(-80)
            .join("\n"),
        );
      }
    }
    // A few of each wrong fate, with the status ingest answers for them (attempts, error).
    const sample = (fate: Fate) =>
      Promise.all(
        (byFate.get(fate) ?? []).slice(0, 3).map(async (id) => ({
          ...((await (await fetch(`${stack.ingestUrl}/v1/notes/${id}`)).json()) as object),
          emails: (atResend.get(id) ?? 0) + (atPostmark.get(id) ?? 0),
        })),
      );
    expect({
      duplicated: await sample("duplicated"),
      lost: await sample("lost"),
      failed: await sample("failed"),
      unsettled: await sample("unsettled"),
      sentOnce: count("sent once"),
    }).toEqual({ duplicated: [], lost: [], failed: [], unsettled: [], sentOnce: NOTES + AFTER_NOTES });
    expect(accepted).toHaveLength(NOTES);
    expect(afterAccepted.every(Boolean)).toBe(true);
    // The primary met both faults it is about: the outage's 502s and the spent quota's 429s.
    const primary = (await (await fetch(`${provider("resend").url}/_control/stats`)).json()) as {
      byStatus: Record<string, number>;
    };
    expect(primary.byStatus["502"]).toBeGreaterThan(0);
    expect(primary.byStatus["429"]).toBeGreaterThan(0);
    // Both providers carried notes, and none reached both.
    expect(atResend.size).toBeGreaterThan(0);
    expect(atPostmark.size).toBeGreaterThan(0);
    expect([...atResend.keys()].filter((id) => atPostmark.has(id))).toEqual([]);
    // Traffic returned to the primary once it recovered.
    expect(afterIds.filter((id) => !atResend.has(id))).toEqual([]);
    expect(stats.circuits).toEqual([
      { provider: "postmark", state: "closed", routed: false, switches: expect.any(Number) },
      { provider: "resend", state: "closed", routed: true, switches: expect.any(Number) },
    ]);
    const [postmark, resend] = stats.circuits ?? [];
    expect(postmark?.switches).toBeGreaterThanOrEqual(1);
    expect(resend?.switches).toBeGreaterThanOrEqual(1);

    const output = await opsStatsOutput();
    expect(output).toContain("providers     new batches go to resend\n");
    expect(output).toMatch(/^ {2}postmark {4}closed; switched to [1-9]\d* time\(s\)$/m);
    expect(output).toMatch(/^ {2}resend {6}closed; switched to [1-9]\d* time\(s\)$/m);
  },
  POSTING_MS + 2 * DRAIN_TIMEOUT_MS + PROBE_DUE_TIMEOUT_MS + 90_000,
);
