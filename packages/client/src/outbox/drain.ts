/**
 * One drain of the outbox: send every queued note, oldest first, then poll the status of every note
 * ingest accepted. One attempt per note per drain, with no waiting inside it: the scheduler
 * (schedule.ts) decides when the next drain runs. A drain killed anywhere leaves each note either
 * moved on or still queued, and a queued note is sent again byte for byte.
 */

import type { IngestConnection } from "../config.ts";
import { NotepipeError } from "../errors.ts";
import { postFrame } from "../post-frame.ts";
import { clientState, fetchStatuses, STATUS_BATCH_SIZE, type StatusEntry } from "../status.ts";
import { type Renew, whileHoldingOutbox } from "./lock.ts";
import type { OutboxConfig } from "./outbox.ts";
import { isFollowed, moved, type OutboxChange, outboxState, readRecords, toNote, writeRecord } from "./records.ts";
import type { OutboxNote, OutboxRecord, OutboxStore } from "./store.ts";

export interface DrainResult {
  /** False when another tab, worker or process holds the outbox: it drains, this call sent nothing. */
  drained: boolean;
  /** Notes whose state moved during this drain, in the order they moved. */
  changes: OutboxChange[];
  /** Every note in the outbox after this drain, oldest first. */
  notes: OutboxNote[];
  /**
   * The retryable failure that ended this drain early (no answer, 429, 5xx): the notes after it
   * wait, still queued, for the next drain. Its `retryAfterMs` is the server's `Retry-After`.
   */
  error?: NotepipeError;
}

/** What a drain needs: the client config with every outbox default already applied. */
export interface DrainConfig extends IngestConnection, Pick<OutboxConfig, "getToken"> {
  store: OutboxStore;
  expireAfterMs: number;
  finalStates: ReadonlySet<string>;
  now: () => number;
}

/** One attempt per request: a drain never waits; the next drain is the retry. */
function once(config: DrainConfig): DrainConfig {
  return { ...config, retry: { ...config.retry, attempts: 1 } };
}

function asRetryable(error: NotepipeError): NotepipeError {
  // Its status, noteId and retryAfterMs, as own fields of the error.
  return new NotepipeError(error.code, error.message, { ...error, retryable: true, cause: error });
}

async function tokenFor(config: DrainConfig, record: OutboxRecord, refused?: string): Promise<string> {
  if (record.token !== undefined) return record.token;
  try {
    // Without a getToken here (a service worker's outbox, say), another drainer that has one sends it.
    if (config.getToken === undefined) throw new TypeError("No getToken here.");
    return await config.getToken(record.to as string, { refused });
  } catch (cause) {
    if (cause instanceof NotepipeError) throw cause;
    throw new NotepipeError("token_unavailable", "No token for the note yet; it stays queued.", {
      retryable: true,
      noteId: record.id,
      cause,
    });
  }
}

/**
 * Posts the stored frame once. `failure` is undefined when ingest answered 202 for this very note;
 * `token` is the one posted (none when there was none to post).
 */
async function post(
  config: DrainConfig,
  record: OutboxRecord,
  refused?: string,
): Promise<{ failure?: NotepipeError; token?: string }> {
  const noteId = record.id;
  if (record.frame === undefined)
    return { failure: new NotepipeError("storage_failed", "The stored frame is unreadable.") };
  let token: string | undefined;
  try {
    token = await tokenFor(config, record, refused);
    const res = await postFrame(once(config), noteId, record.frame, token);
    const body = (await res.json().catch(() => null)) as { id?: unknown } | null;
    if (res.status === 202 && body?.id === noteId) return { token };
    // A captive portal or a proxy answers 200 with its own page: the note did not reach ingest.
    const failure = new NotepipeError("unexpected_response", `HTTP ${res.status} is not ingest's 202 for this note.`, {
      status: res.status,
      retryable: true,
      noteId,
    });
    return { failure, token };
  } catch (error) {
    if (!(error instanceof NotepipeError)) throw error;
    // Only ingest's own refusal, with its code, is final; a bare 4xx came from something in between.
    return { failure: error.code === "unexpected_response" ? asRetryable(error) : error, token };
  }
}

/**
 * Drains once if no other drainer holds the outbox. Rejects only when the storage fails
 * (`storage_failed`); what the network and the server answer is in the result.
 */
export async function drainOutbox(config: DrainConfig): Promise<DrainResult> {
  const { store, now } = config;
  const changes: OutboxChange[] = [];
  let records = new Map<string, OutboxRecord>();
  let error: NotepipeError | undefined;

  const reread = async () => {
    records = new Map((await readRecords(store)).map((record) => [record.id, record]));
  };
  const move = async (record: OutboxRecord, next: OutboxRecord) => {
    await writeRecord(store, next);
    records.set(next.id, next);
    if (next.state !== record.state) {
      changes.push({ id: next.id, previous: record.state, state: next.state, code: next.code, error: next.error });
    }
  };

  /** Status requests for `polled`, 100 ids each; each answered record moved to what `next` makes of it. */
  const poll = async (
    polled: OutboxRecord[],
    next: (record: OutboxRecord, entry: StatusEntry) => OutboxRecord | undefined,
  ): Promise<NotepipeError | undefined> => {
    for (let start = 0; start < polled.length; start += STATUS_BATCH_SIZE) {
      let entries: StatusEntry[];
      try {
        entries = await fetchStatuses(once(config), polled.slice(start, start + STATUS_BATCH_SIZE));
      } catch (failure) {
        if (failure instanceof NotepipeError) return failure;
        throw failure;
      }
      for (const entry of entries) {
        const record = records.get(entry.id);
        const after = record && next(record, entry);
        if (record && after) await move(record, after);
      }
    }
    return undefined;
  };

  /**
   * A note is posted once, and once more with a token from `getToken` when ingest refused its
   * token with a 401 (its kid retired, say): the frame stays, the refused token is dropped.
   */
  const sendOne = async (record: OutboxRecord): Promise<NotepipeError | undefined> => {
    let { failure, token } = await post(config, record);
    if (failure?.status === 401 && config.getToken !== undefined) {
      const { token: dropped, ...next } = record;
      if (dropped !== undefined) await move(record, next);
      ({ failure } = await post(config, next, token));
    }
    return failure;
  };

  const sendQueued = async (renew: Renew): Promise<NotepipeError | undefined> => {
    const tried = new Set<string>();
    // Read again after each batch, for notes enqueued meanwhile (by this tab or another); each
    // note is tried once per drain, so this ends.
    for (;;) {
      await reread();
      const batch = [...records.values()].filter((record) => record.state === "queued" && !tried.has(record.id));
      if (batch.length === 0) return undefined;
      for (const record of batch) tried.add(record.id);
      const expired = (record: OutboxRecord) => now() - record.createdAt >= config.expireAfterMs;
      // A note unsent at its expiry may have been accepted, its 202 lost on the way back: ingest is
      // asked first, and only a note it never had becomes `expired`. Without an answer it stays queued.
      const failure = await poll(batch.filter(expired), (record, entry) => {
        if (entry.state === "unknown") return moved(record, { state: "expired" });
        const { attempts, updatedAt, error } = entry;
        return moved(record, { state: outboxState(entry.state), acceptedAt: now(), attempts, updatedAt, error });
      });
      if (failure !== undefined) return failure;
      for (const record of batch.filter((record) => !expired(record))) {
        if (!(await renew())) return undefined;
        const failure = await sendOne(record);
        if (failure === undefined) await move(record, moved(record, { state: "accepted", acceptedAt: now() }));
        else if (failure.retryable) return failure;
        else await move(record, moved(record, { state: "failed", code: failure.code, error: failure.message }));
      }
    }
  };

  const pollFollowed = () =>
    poll(
      [...records.values()].filter((record) => isFollowed(record, config.finalStates)),
      (record, entry) => {
        const state = outboxState(clientState(entry, record.acceptedAt as number, now()));
        const { attempts, updatedAt, error } = entry;
        const changed = state !== record.state || updatedAt !== record.updatedAt;
        return changed ? moved(record, { state, attempts, updatedAt, error }) : undefined;
      },
    );

  const drained = await whileHoldingOutbox(store, now, async (renew) => {
    error = (await sendQueued(renew)) ?? (await pollFollowed());
  });
  if (!drained) await reread();
  return { drained, changes, notes: [...records.values()].map(toNote), error };
}
