/**
 * The consumer of both notes queues (`notes` and `notes-large`, queues.ts). For one batch:
 *   1. decode every message; copies of one note follow the first copy's fate; past the invocation's
 *      byte budget (budget.ts), the other notes go back to the queue for the next invocation;
 *   2. claim the batch in the delivery ledger (one call): which notes go out in which request,
 *      which are settled already (ack), which a request in flight elsewhere holds (retry later);
 *   3. send each request, byte for byte the one the ledger describes, and classify each email;
 *   4. write each note's status to KV, then record every outcome in the ledger (one call), and
 *      only then ack or retry each message (README.md: "The delivery ledger", "Outcomes"). A
 *      settled note whose record KV may lack is projected beside (a third call, `synced`, only then).
 * Nothing escapes as a throw: a ledger that cannot be reached retries every message on its own
 * backoff, and a KV that refuses writes is repaired later from the ledger.
 */

import { decodeFrame, type Frame } from "@notepipe/frame";
import type { DeliveryErrorCode, StatusRecord } from "@notepipe/pipeline";
import { type DeliverConfig, readConfig } from "../config.ts";
import { callLedger } from "../ledger/client.ts";
import type {
  ClaimDecision,
  ClaimNote,
  ClaimResult,
  NoteOutcome,
  SendPlan,
  Settled,
  SettleResult,
  UndecodableNote,
} from "../ledger/types.ts";
import { MAX_PACE_WAIT_MS } from "../providers/pace.ts";
import { type OutgoingEmail, sendEmails } from "../providers/provider.ts";
import { circuitOf, failoverOf, pipelineWaitSeconds, providerOf } from "../providers/routing.ts";
import { projectToKv, recordsBehind } from "../status/projection.ts";
import { putStatuses } from "../status/records.ts";
import { outageDelaySeconds, pipelineDelaySeconds, type RetrySettings, retryDelaySeconds } from "./backoff.ts";
import { deferToNextInvocation, withinBudget } from "./budget.ts";
import { type DecodedMessage, decodeMessage } from "./decode-message.ts";
import { classOf, describe, type FailedOutcome, failed, isAmbiguous, type SendOutcome } from "./outcomes.ts";
import { producerOf } from "./queues.ts";

/**
 * A request is sent again under its key only while the provider still holds it: Resend keeps keys
 * 24 hours; an hour less leaves room for clock skew and slow requests.
 */
const KEY_WINDOW_MS = 23 * 60 * 60 * 1000;
/** Room beyond the timeout and the pacing wait for building the body and reading the answer. */
const LEASE_SLACK_MS = 10_000;
const WHO = "deliver";

/** Everything the batch knows about one note id: its first copy leads, the others follow. */
interface Note {
  id: string;
  messages: Message<unknown>[];
  decoded: DecodedMessage;
  /** The frame's bytes (what the byte budget counts), 0 for a message without one. */
  bytes: number;
  /** The most deliveries any of its messages has had: read once, each `attempts` is a call into the runtime. */
  attempts: number;
}

interface Sent {
  plan: SendPlan;
  outcomes: NoteOutcome[];
}

export async function deliverNotes(batch: MessageBatch<unknown>, env: Env): Promise<void> {
  const notes = new Map<string, Note>();
  for (const message of batch.messages) {
    const decoded = decodeMessage(message);
    const note = notes.get(decoded.id);
    const attempts = message.attempts;
    if (note === undefined) {
      notes.set(decoded.id, {
        id: decoded.id,
        messages: [message],
        decoded,
        bytes: decoded.ok ? decoded.bytes.length : 0,
        attempts,
      });
    } else {
      note.messages.push(message);
      note.attempts = Math.max(note.attempts, attempts);
    }
  }

  const read = readConfig(env);
  if (!read.ok) {
    // Nothing can be sent with these settings, and nothing was: every note waits for a person.
    const delay = pipelineDelaySeconds({ baseSeconds: 30, maxSeconds: 43_200, pipelineSeconds: 3600 }, null);
    console.error(
      `deliver: PIPELINE FAILURE config_invalid: ${read.problem} ${batch.messages.length} message(s) wait ${delay} s.`,
    );
    for (const message of batch.messages) message.retry({ delaySeconds: delay });
    return;
  }
  const { config } = read;
  const { later } = withinBudget(notes.values(), config.frameBudgetBytes);
  for (const item of later) notes.delete(item.id);
  await Promise.all([
    later.length > 0 ? deferToNextInvocation(producerOf(env, batch.queue), later) : undefined,
    claimSendSettle(env, config, notes),
  ]);
}

/** Steps 2 to 4 for the notes this invocation sends. */
async function claimSendSettle(env: Env, config: DeliverConfig, notes: Map<string, Note>): Promise<void> {
  if (notes.size === 0) return;
  const holder = crypto.randomUUID();

  let claim: ClaimResult;
  const failover = failoverOf(config, KEY_WINDOW_MS);
  try {
    claim = await callLedger(env, (ledger) =>
      ledger.claim({
        ...(failover === undefined ? {} : { failover }),
        holder,
        newKey: `notepipe-v2-${crypto.randomUUID()}`,
        fromJson: config.send.fromJson,
        subjectJson: config.send.subjectJson,
        leaseMs: config.send.timeoutMs + MAX_PACE_WAIT_MS + LEASE_SLACK_MS,
        keyWindowMs: config.provider.idempotent ? KEY_WINDOW_MS : 0,
        ...claimNotes(notes),
      }),
    );
  } catch (error) {
    retryOnOutage(
      [...notes.values()].flatMap((note) => note.messages),
      "claim",
      error,
    );
    return;
  }

  const sent = await sendPlans(claim, notes, config);
  const now = Date.now();
  const outcomes = sent.flatMap((item) => item.outcomes);

  // KV first, for the client's next poll; the ledger remembers whatever KV refused. Settled notes
  // whose record KV may lack are projected alongside.
  const toWrite: StatusRecord[] = [];
  for (const outcome of outcomes) if (!outcome.unchanged) toWrite.push(outcome.record);
  const [written] = await Promise.all([
    putStatuses(env.STATUS, toWrite, WHO),
    projectToKv(env, recordsBehind(claim.decisions), WHO),
  ]);

  let settled: SettleResult = {};
  try {
    if (outcomes.length > 0) {
      const circuit = circuitOf(config);
      settled = await callLedger(env, (ledger) =>
        ledger.settle({ holder, outcomes, written: [...written], ...(circuit === undefined ? {} : { circuit }) }),
      );
    }
  } catch (error) {
    // The provider's answers are lost to the ledger: the requests stay held, and when their lease
    // runs out the same requests go again, which the provider answers from its key (README.md).
    const sentIds = new Set(outcomes.map((outcome) => outcome.id));
    retryOnOutage(
      [...notes.values()].filter((note) => sentIds.has(note.id)).flatMap((note) => note.messages),
      "settle",
      error,
    );
    for (const note of notes.values()) if (!sentIds.has(note.id)) finish(note, claim.decisions[note.id], config, now);
    return;
  }

  const outcomeOf = new Map(outcomes.map((outcome) => [outcome.id, outcome]));
  for (const note of notes.values()) {
    const decision = claim.decisions[note.id];
    const result = settled[note.id];
    if (decision?.kind === "send" && result !== undefined) {
      settleMessages(note, result, outcomeOf.get(note.id), config.retry);
    } else {
      finish(note, decision, config, now);
    }
  }
  logPipelineFailures(outcomes, notes);
}

function claimNotes(notes: Map<string, Note>): { notes: ClaimNote[]; undecodable: UndecodableNote[] } {
  const claim: ClaimNote[] = [];
  const undecodable: UndecodableNote[] = [];
  for (const { id, decoded, attempts } of notes.values()) {
    if (decoded.ok) {
      const note: ClaimNote = { id, frame: decoded.bytes, acceptedAt: decoded.acceptedAt, attempts };
      if (decoded.replayedAt !== undefined) note.replayedAt = decoded.replayedAt;
      claim.push(note);
    } else {
      const note: UndecodableNote = {
        id,
        isNoteId: decoded.isNoteId,
        frame: decoded.bytes,
        acceptedAt: decoded.acceptedAt,
        attempts,
        problem: decoded.problem,
      };
      if (decoded.replayedAt !== undefined) note.replayedAt = decoded.replayedAt;
      undecodable.push(note);
    }
  }
  return { notes: claim, undecodable };
}

/**
 * Sends the ledger's requests one after another, each to the provider the ledger names for it.
 * After a rate limit or a pipeline-level failure the rest of that provider's are not sent now:
 * their notes get the same outcome. Another provider's requests still go.
 */
async function sendPlans(claim: ClaimResult, notes: Map<string, Note>, config: DeliverConfig): Promise<Sent[]> {
  const sent: Sent[] = [];
  const halts = new Map<string, FailedOutcome>();
  for (const plan of claim.sends) {
    const emails = plan.notes.map((entry) => emailOf(entry, notes));
    const target = providerOf(config, plan);
    // The ledger routes only to listed providers (ledger/circuits.ts); a settings change between
    // its claim and this send leaves the request unsent and held, for the next claim to decide.
    const halt = target === undefined ? failed("config_invalid") : halts.get(target.provider.name);
    const outcomes: SendOutcome[] =
      halt !== undefined || target === undefined
        ? emails.map(() => halt ?? failed("config_invalid"))
        : await sendEmails(
            target.provider,
            { ...target.send, fromJson: plan.fromJson, subjectJson: plan.subjectJson },
            emails,
            plan.key,
          );
    // Records say when the provider answered: a paced send may have waited for its window.
    const now = Date.now();
    const stop = outcomes.find(
      (outcome): outcome is FailedOutcome =>
        outcome.kind === "failed" && (outcome.code === "rate_limited" || classOf(outcome.code) === "pipeline"),
    );
    if (target !== undefined && stop !== undefined && !halts.has(target.provider.name)) {
      halts.set(target.provider.name, stop);
    }
    sent.push({ plan, outcomes: noteOutcomes(plan, outcomes, notes, claim.decisions, config, now) });
  }
  return sent;
}

/** One note of a request as an email: from this batch's message, or from the frame the ledger kept. */
function emailOf(entry: SendPlan["notes"][number], notes: Map<string, Note>): OutgoingEmail {
  const decoded = notes.get(entry.id)?.decoded;
  const frame = decoded?.ok ? decoded.frame : decodeKept(entry);
  return { noteId: entry.id, recipient: frame.recipient, nonce: frame.nonce, ciphertext: frame.ciphertext };
}

function decodeKept(entry: SendPlan["notes"][number]): Frame {
  const decoded = decodeFrame(entry.frame ?? new Uint8Array());
  // The ledger only keeps frames that decoded when they were claimed.
  if (!decoded.ok) throw new Error(`the ledger's frame of ${entry.id} does not decode: ${decoded.error}`);
  return decoded.frame;
}

/** What each email's outcome makes of its note's status, with one retry delay per request. */
function noteOutcomes(
  plan: SendPlan,
  outcomes: SendOutcome[],
  notes: Map<string, Note>,
  decisions: Record<string, ClaimDecision>,
  config: DeliverConfig,
  now: number,
): NoteOutcome[] {
  const { retry } = config;
  // Notes of the request that are not in this batch count as one delivery.
  const attemptsOf = (id: string) => Math.max(1, notes.get(id)?.attempts ?? 1);
  let attempts = 1;
  let retryAfter = 0;
  for (const [i, entry] of plan.notes.entries()) {
    attempts = Math.max(attempts, attemptsOf(entry.id));
    const outcome = outcomes[i] as SendOutcome;
    if (outcome.kind === "failed") retryAfter = Math.max(retryAfter, outcome.retryAfterSeconds ?? 0);
  }
  // One time for the whole request: the provider answered for all of its emails at once.
  const updatedAt = iso(now);
  let transientDelay: number | undefined;
  return plan.notes.map((entry, i) => {
    const outcome = outcomes[i] as SendOutcome;
    const noteAttempts = attemptsOf(entry.id);
    if (outcome.kind === "accepted") {
      return {
        id: entry.id,
        key: plan.key,
        record: { id: entry.id, attempts: noteAttempts, updatedAt, state: "sent", providerId: outcome.providerId },
      };
    }
    const base = { id: entry.id, attempts: noteAttempts, updatedAt };
    const error = describe(outcome);
    const kind = classOf(outcome.code);
    const decision = decisions[entry.id];
    const firstFailureAt = (decision?.kind === "send" ? decision.firstFailureAt : undefined) ?? updatedAt;
    if (kind === "permanent") {
      return {
        id: entry.id,
        key: plan.key,
        record: { ...base, state: "failed", error, errorCode: outcome.code, firstFailureAt },
        deadLetter: { reason: outcome.code, message: error, possiblySent: outcome.code === "possibly_sent" },
      };
    }
    if (kind !== "pipeline") transientDelay ??= retryDelaySeconds(attempts, retry, retryAfter || null);
    const delay =
      kind === "pipeline"
        ? pipelineWaitSeconds(config, attempts, retry, outcome.retryAfterSeconds ?? null)
        : (transientDelay as number);
    const record: StatusRecord = {
      ...base,
      state: "retrying",
      nextAttemptAt: iso(now + delay * 1000),
      error,
      errorCode: outcome.code,
      firstFailureAt,
    };
    return {
      id: entry.id,
      key: plan.key,
      record,
      ambiguous: isAmbiguous(outcome.code),
      // A pipeline-level failure lasts until someone acts: a record that says so already stays.
      unchanged: kind === "pipeline" && decision?.kind === "send" && decision.retrying === outcome.code,
    };
  });
}

/**
 * Acks or retries a sent note's messages by what the ledger made of it: a note still held by its
 * request (its answer never came) or waiting to be retried goes back to the queue.
 */
function settleMessages(note: Note, settled: Settled, outcome: NoteOutcome | undefined, retry: RetrySettings) {
  const { record } = settled;
  if (settled.done && record.state !== "retrying" && record.state !== "queued") {
    for (const message of note.messages) message.ack();
    return;
  }
  const next = Date.parse(outcome?.record.nextAttemptAt ?? record.nextAttemptAt ?? "");
  const delay = Number.isNaN(next)
    ? retryDelaySeconds(note.messages[0]?.attempts ?? 1, retry, null)
    : Math.max(1, Math.ceil((next - Date.now()) / 1000));
  for (const message of note.messages) message.retry({ delaySeconds: delay });
}

/** A note this batch did not send: settled (ack), or held elsewhere (retry when its lease ends). */
function finish(note: Note, decision: ClaimDecision | undefined, config: DeliverConfig, now: number): void {
  if (decision?.kind === "settled") {
    for (const message of note.messages) message.ack();
  } else if (decision?.kind === "wait") {
    for (const message of note.messages) message.retry({ delaySeconds: decision.seconds });
  } else {
    const delay = retryDelaySeconds(note.messages[0]?.attempts ?? 1, config.retry, null);
    console.error(`deliver: note ${note.id} had no decision at ${iso(now)}; retried in ${delay} s`);
    for (const message of note.messages) message.retry({ delaySeconds: delay });
  }
}

/** The ledger could not be reached: nothing was decided (or recorded), every message waits. */
function retryOnOutage(messages: readonly Message<unknown>[], step: "claim" | "settle", error: unknown): void {
  const name = error instanceof Error ? error.name : typeof error;
  console.error(
    `deliver: LEDGER UNAVAILABLE at ${step} (${name}); ${messages.length} message(s) retried on the outage backoff.`,
  );
  for (const message of messages) message.retry({ delaySeconds: outageDelaySeconds(message.attempts) });
}

/** Loud, once per cause and batch: these wait for a person. Never the key, never an address. */
function logPipelineFailures(outcomes: NoteOutcome[], notes: Map<string, Note>): void {
  const causes = new Map<DeliveryErrorCode, { error: string; count: number; next: string }>();
  for (const outcome of outcomes) {
    const code = outcome.record.errorCode;
    if (code === undefined || outcome.record.state !== "retrying" || classOf(code) !== "pipeline") continue;
    if (!notes.has(outcome.id)) continue;
    const seen = causes.get(code);
    causes.set(code, {
      error: outcome.record.error ?? "",
      count: (seen?.count ?? 0) + 1,
      next: outcome.record.nextAttemptAt ?? "",
    });
  }
  for (const [code, { error, count, next }] of causes) {
    console.error(
      `deliver: PIPELINE FAILURE ${code}: ${error} ${count} note(s) wait until ${next} and are not dead-lettered; fix the cause (workers/deliver/README.md, "Outcomes").`,
    );
  }
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}
