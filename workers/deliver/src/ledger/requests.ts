/**
 * Requests to the provider and the notes they hold: a claim's new request, the lease an invocation
 * holds a request for, a request that went unanswered and goes out again byte for byte, and one
 * that expired with the provider's key window. Each function runs inside the caller's transaction.
 */

import { DELIVERY_ERRORS } from "../queue/outcomes.ts";
import type { Router } from "./circuits.ts";
import { dropFrame, moveNote, needsFrame, noteOf, releaseNote } from "./notes.ts";
import type { Exec, RequestRow } from "./schema.ts";
import type { ClaimDecision, ClaimInput, ClaimNote, ProviderChoice, SendPlan } from "./types.ts";

export function requestOf(exec: Exec, key: string): RequestRow | null {
  return exec<RequestRow>("SELECT * FROM requests WHERE key = ?", key).rows[0] ?? null;
}

/** The ids a request was built with, in the order it sends them. */
export function idsOf(request: RequestRow): string[] {
  return JSON.parse(request.note_ids) as string[];
}

/** A request in flight in another invocation, whose lease has not run out. */
export function isInFlight(request: RequestRow, now: number): boolean {
  return request.holder !== null && request.lease_until > now;
}

/** Seconds until a request's lease runs out, and one more: when a note it holds may be claimed again. */
export function waitSeconds(request: RequestRow, now: number): number {
  return Math.max(1, Math.ceil((request.lease_until - now) / 1000) + 1);
}

/**
 * What a note held by request `key` does in this batch: wait, go out in that request, or nothing
 * (the request expired: its notes are dead letters now).
 */
export function planHeld(
  exec: Exec,
  key: string,
  input: ClaimInput,
  inBatch: ReadonlySet<string>,
  now: number,
  router?: Router,
): SendPlan | ClaimDecision {
  const request = requestOf(exec, key);
  if (request === null) {
    // A request row gone without its notes let go cannot happen in one transaction; heal the notes
    // of this batch, each by its key (an index on `request_key` would cost a row written per move).
    for (const id of inBatch) if (noteOf(exec, id)?.request_key === key) releaseNote(exec, id);
    return { kind: "wait", seconds: 1 };
  }
  if (request.holder !== input.holder && isInFlight(request, now)) {
    return { kind: "wait", seconds: waitSeconds(request, now) };
  }
  const lapsed = request.holder !== null && request.holder !== input.holder;
  const maybeSent = request.maybe_sent === 1 || lapsed;
  // With failover, the request's own provider and its key window; it goes nowhere else (circuits.ts).
  const provider = router === undefined ? undefined : router.choiceOf(request.provider ?? router.first());
  const keyWindowMs = provider?.keyWindowMs ?? input.keyWindowMs;
  if (router !== undefined && provider === undefined) {
    // Its provider is no longer listed: nothing may send it again.
    expire(exec, request, now);
    return { kind: "settled", record: null, behind: true, version: 0 };
  }
  if (maybeSent && keyWindowMs > 0 && now - request.created_at >= keyWindowMs) {
    expire(exec, request, now);
    return { kind: "settled", record: null, behind: true, version: 0 };
  }
  const admitted = provider === undefined ? undefined : router?.admit(provider.name);
  if (admitted?.kind === "wait") return admitted;
  // A lease that ran out unanswered: its holder may have sent the request before it died.
  exec(
    "UPDATE requests SET holder = ?, lease_until = ?, maybe_sent = ?, attempts = attempts + 1 WHERE key = ?",
    input.holder,
    now + input.leaseMs,
    maybeSent ? 1 : 0,
    key,
  );
  const notes: SendPlan["notes"] = [];
  for (const id of idsOf(request)) {
    if (inBatch.has(id)) {
      notes.push({ id });
      continue;
    }
    // Kept for as long as the request exists, even for a note settled on its own meanwhile (a
    // webhook): the request must go out byte for byte as it first did.
    const frame = noteOf(exec, id)?.frame ?? null;
    if (frame === null) {
      console.error(`ledger: request ${key} lost the frame of ${id}; its notes are dead-lettered as possibly sent`);
      expire(exec, request, now);
      return { kind: "settled", record: null, behind: true, version: 0 };
    }
    notes.push({ id, frame: new Uint8Array(frame) });
  }
  return {
    key,
    provider: provider?.name ?? request.provider,
    resend: request.attempts > 0 && maybeSent,
    fromJson: request.from_json,
    subjectJson: request.subject_json,
    notes,
  };
}

/** The batch's new notes, in one new request under `input.newKey`, held until `leaseUntil`. */
export function claimFresh(
  exec: Exec,
  notes: readonly ClaimNote[],
  input: ClaimInput,
  now: number,
  leaseUntil: number,
  provider: ProviderChoice | null = null,
): SendPlan {
  const ids = notes.map((note) => note.id).sort();
  const fromJson = provider?.fromJson ?? input.fromJson;
  exec(
    `INSERT INTO requests (key, from_json, subject_json, note_ids, created_at, holder, lease_until, attempts, provider)
     VALUES (?, ?, ?, ?, ?, ?, ?, 1, ?)`,
    input.newKey,
    fromJson,
    input.subjectJson,
    JSON.stringify(ids),
    now,
    input.holder,
    leaseUntil,
    provider?.name ?? null,
  );
  // One row write per note: the Free plan allows 100,000 a day (README.md, "The delivery ledger").
  for (const note of notes) {
    moveNote(
      exec,
      note.id,
      noteOf(exec, note.id),
      {
        to: "claimed",
        key: input.newKey,
        frame: note.frame,
        acceptedAt: note.acceptedAt,
        replayedAt: note.replayedAt ?? null,
        attempts: note.attempts,
      },
      now,
    );
  }
  return {
    key: input.newKey,
    provider: provider?.name ?? null,
    resend: false,
    fromJson,
    subjectJson: input.subjectJson,
    notes: ids.map((id) => ({ id })),
  };
}

/**
 * The lease of every request a claim hands back: the invocation sends them one after another, so
 * each is held until the last may have gone out, `leaseMs` per request. A request held for less
 * could be handed to another invocation while this one still sends it (Resend answers the second
 * send 409; Postmark, which keeps no keys, sends twice).
 */
export function leaseUntil(input: ClaimInput, requests: number, now: number): number {
  return now + input.leaseMs * requests;
}

/** Holds each request of `sends` that this claim took over until `until` (the new one is inserted so). */
export function extendLeases(exec: Exec, sends: readonly SendPlan[], input: ClaimInput, until: number): void {
  if (sends.length < 2) return;
  for (const plan of sends) {
    if (plan.key === input.newKey) continue;
    exec("UPDATE requests SET lease_until = ? WHERE key = ? AND holder = ?", until, plan.key, input.holder);
  }
}

/**
 * The provider forgets a key after 24 h: a request unanswered that long cannot be sent again
 * safely, so its unsettled notes become `failed`, possibly sent, with a dead letter for ops.
 */
export function expire(exec: Exec, request: RequestRow, now: number): void {
  const spec = DELIVERY_ERRORS.possibly_sent;
  for (const id of idsOf(request)) {
    const row = noteOf(exec, id);
    if (row === null || row.request_key !== request.key) continue;
    moveNote(
      exec,
      id,
      row,
      {
        to: "failed",
        failure: { error: spec.sentence, code: "possibly_sent", at: now, since: request.created_at },
        letter: { possiblySent: true },
        attempts: row.attempts,
        kv: false,
      },
      now,
    );
  }
  exec("DELETE FROM requests WHERE key = ?", request.key);
}

/**
 * The ids of the notes request `key` still holds. Read through its composition by primary key:
 * an index on `request_key` would cost two row writes per note, a scan every row of the table.
 */
function heldBy(exec: Exec, key: string): string[] {
  const request = requestOf(exec, key);
  if (request === null) return [];
  return idsOf(request).filter((id) => noteOf(exec, id)?.request_key === key);
}

/** Lets go of every note request `key` holds. */
export function dissolve(exec: Exec, key: string): void {
  for (const id of heldBy(exec, key)) releaseNote(exec, id);
}

/** The invocation that held request `key` is done with it; another may send it again at once. */
export function letGo(exec: Exec, key: string): void {
  exec("UPDATE requests SET holder = NULL, lease_until = 0 WHERE key = ?", key);
}

/** The request still holds an unanswered attempt that may have reached the provider. */
export function markMaybeSent(exec: Exec, key: string): void {
  exec("UPDATE requests SET maybe_sent = 1 WHERE key = ?", key);
}

/**
 * Deletes request `key` once it holds no note, and with it the frames it kept for notes settled or
 * discarded meanwhile (a dead letter keeps its own); answers whether it is gone.
 */
export function dropIfEmpty(exec: Exec, key: string): boolean {
  const request = requestOf(exec, key);
  if (request === null) return true;
  const rows = idsOf(request).map((id) => noteOf(exec, id));
  if (rows.some((row) => row?.request_key === key)) return false;
  for (const row of rows) {
    if (row !== null && row.frame !== null && !needsFrame(row)) dropFrame(exec, row.id);
  }
  exec("DELETE FROM requests WHERE key = ?", key);
  return true;
}

/**
 * Lets go of notes past their time that a request nobody sends any more still holds (a dead letter
 * filed while its request was unanswered, never replayed): at most `limit` of them, so that the
 * prune that follows can remove them. Answers how many it let go.
 */
export function releaseExpired(exec: Exec, now: number, limit: number): number {
  const held = exec<{ id: string; request_key: string }>(
    "SELECT id, request_key FROM notes WHERE expires_at < ? AND request_key IS NOT NULL LIMIT ?",
    now,
    limit,
  ).rows;
  const keys = new Set<string>();
  let released = 0;
  for (const { id, request_key: key } of held) {
    const request = requestOf(exec, key);
    if (request !== null && isInFlight(request, now)) continue;
    releaseNote(exec, id);
    keys.add(key);
    released++;
  }
  for (const key of keys) dropIfEmpty(exec, key);
  return released;
}
