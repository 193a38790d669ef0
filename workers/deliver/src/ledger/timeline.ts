/**
 * A note's timeline for the ops console: each attempt's outcome and the delay it was given, the
 * replays, the delivery events. Kept as a short text column of the note's own row (`timeline`,
 * schema 5), written by the same row write as each move (notes.ts, `moveNote`): no row more per
 * note, and the steps live exactly as long as the row (22 days, a dead letter 30: schema.ts) and
 * go with it when prune deletes it.
 *
 * The text is `<base ms> <step> <step> …`, each step `<letter><ms after base>[:<code>][+<delay s>]`,
 * e.g. `1765000000000 r1834:rate_limited+30 s33012 d36120` (about 8 bytes a step without a code).
 * At most {@link MAX_STEPS} are kept: the first, a `~` where some were dropped, and the latest. A
 * note has 11 deliveries per queue life, so only replay after replay reaches the cap. A
 * pipeline-level failure repeated hour after hour writes no step: its row is not rewritten either
 * (the `unchanged` outcome, ledger.ts), which is what keeps an outage from costing a row write per
 * waiting note per hour.
 */

import type { DeliveryErrorCode, NoteState } from "@notepipe/pipeline";
import type { Move } from "./notes.ts";
import type { NoteRow } from "./schema.ts";

export const MAX_STEPS = 24;

export type StepKind =
  | "sent"
  | "retrying"
  | "failed"
  | "dead"
  | "undecodable"
  | "replayed"
  | "delivered"
  | "bounced"
  | "complained"
  | "discarded";

export interface TimelineStep {
  kind: StepKind;
  /** ms since the epoch. */
  at: number;
  /** The failure's code, for a failure. */
  code?: DeliveryErrorCode;
  /** For `retrying`: seconds until the next attempt. */
  delaySeconds?: number;
}

/** What the ops console shows of one note: its steps and states, never its frame's nonce or ciphertext. */
export interface NoteTimeline {
  id: string;
  state: NoteState;
  attempts: number;
  /** ms: when ingest accepted it; null if the message did not say. */
  acceptedAt: number | null;
  /** ms: the last change to the note. */
  updatedAt: number;
  /** The recipient of the frame the ledger still holds (a dead letter's, a held request's); null once sent. */
  recipient: string | null;
  error: string | null;
  errorCode: string | null;
  deadLetter: { possiblySent: boolean } | null;
  nextAttemptAt: number | null;
  steps: TimelineStep[];
  /** Steps between the first and the latest were dropped to keep the row small. */
  stepsOmitted: boolean;
}

const LETTERS: Record<StepKind, string> = {
  sent: "s",
  retrying: "r",
  failed: "f",
  dead: "x",
  undecodable: "u",
  replayed: "q",
  delivered: "d",
  bounced: "b",
  complained: "c",
  discarded: "k",
};
const KINDS = new Map(Object.entries(LETTERS).map(([kind, letter]) => [letter, kind as StepKind]));
const OMITTED = "~";
const STEP = /^([a-z])(\d+)(?::([a-z_]+))?(?:\+(\d+))?$/;

/** The step a move adds to the timeline, or null (a claim is an attempt starting: its outcome is the step). */
export function stepOf(move: Move): TimelineStep | null {
  switch (move.to) {
    case "claimed":
      return null;
    case "sent":
      return { kind: "sent", at: move.at };
    case "retrying": {
      const step: TimelineStep = { kind: "retrying", at: move.failure.at, code: move.failure.code };
      if (move.nextAttemptAt !== null) {
        step.delaySeconds = Math.max(0, Math.round((move.nextAttemptAt - move.failure.at) / 1000));
      }
      return step;
    }
    case "failed":
    case "dead":
    case "undecodable":
      return { kind: move.to, at: move.failure.at, code: move.failure.code };
    case "queued":
      return { kind: "replayed", at: move.at };
    case "event":
      return move.state === "delivered" || move.state === "bounced" || move.state === "complained"
        ? { kind: move.state, at: move.at }
        : null;
    case "discarded":
      return { kind: "discarded", at: move.at };
  }
}

/** `timeline` with `step` appended, the oldest steps after the first dropped past {@link MAX_STEPS}. */
export function appendStep(timeline: string | null, step: TimelineStep | null): string | null {
  if (step === null) return timeline;
  const parts = timeline === null ? [] : timeline.split(" ");
  const base = parts.length > 0 ? Number(parts[0]) : step.at;
  const steps = parts.slice(1);
  let text = `${LETTERS[step.kind]}${Math.max(0, step.at - base)}`;
  if (step.code !== undefined) text += `:${step.code}`;
  if (step.delaySeconds !== undefined) text += `+${step.delaySeconds}`;
  steps.push(text);
  if (steps.length > MAX_STEPS) steps.splice(1, steps.length - MAX_STEPS + 1, OMITTED);
  return `${base} ${steps.join(" ")}`;
}

/** The steps a row's `timeline` holds, and whether some were dropped. */
export function readSteps(timeline: string | null): { steps: TimelineStep[]; omitted: boolean } {
  if (timeline === null) return { steps: [], omitted: false };
  const [baseText, ...parts] = timeline.split(" ");
  const base = Number(baseText);
  const steps: TimelineStep[] = [];
  let omitted = false;
  for (const part of parts) {
    if (part === OMITTED) {
      omitted = true;
      continue;
    }
    const match = STEP.exec(part);
    const kind = KINDS.get(match?.[1] ?? "");
    if (match === null || kind === undefined) continue;
    const step: TimelineStep = { kind, at: base + Number(match[2]) };
    if (match[3] !== undefined) step.code = match[3] as DeliveryErrorCode;
    if (match[4] !== undefined) step.delaySeconds = Number(match[4]);
    steps.push(step);
  }
  return { steps, omitted };
}

/** The console's view of a row; `recipient` is read from the frame by the caller, which alone decodes frames. */
export function timelineOf(row: NoteRow, recipient: string | null): NoteTimeline {
  const { steps, omitted } = readSteps(row.timeline);
  return {
    id: row.id,
    state: row.state,
    attempts: row.attempts,
    acceptedAt: row.accepted_at,
    updatedAt: row.updated_at,
    recipient,
    error: row.error,
    errorCode: row.error_code,
    deadLetter: row.dead_letter === 1 ? { possiblySent: row.possibly_sent === 1 } : null,
    nextAttemptAt: row.next_attempt_at,
    steps,
    stepsOmitted: omitted,
  };
}
