/**
 * The whole pipeline through the real local stack (@notepipe/local-stack: the local mail provider at its
 * default 2 requests/s, and both Workers under `wrangler dev`): post 1,000 notes at a bounded
 * concurrency, poll their statuses in bulk until each is `sent`, and read the provider's own count of
 * upstream requests. The provider's limit, not our code, should bound the rate: 2 requests/s of
 * 100-email batches is 200 notes/s.
 */

import type { WebhookStats } from "@notepipe/local-provider";
import { type LocalStack, startStack } from "@notepipe/local-stack";
import { type NoteState, SENT_STATES } from "@notepipe/pipeline";
import { NOTE_SIZES, type SampleNote, sampleNote, withNoteId } from "./sample-notes.ts";
import { percentile } from "./stats.ts";

export interface PipelineOptions {
  notes: number;
  /** POSTs in flight at once. */
  concurrency: number;
  /** Every pending note's status is asked for this often, 100 ids per request. */
  pollIntervalMs: number;
  /** The run gives up after this long, whatever is still pending. */
  timeoutMs: number;
  /** …or once no note has changed state for this long (deliver stuck or absent). */
  stallMs: number;
}

export interface PipelineResult {
  options: PipelineOptions;
  /** Frame size of every note. */
  noteBytes: number;
  /** From the first POST to the last 202, in s. */
  postSeconds: number;
  /** Notes sent / (last `sent` − first POST). */
  notesPerSecond: number;
  /** Requests the provider received during the run (its /_control/stats), and per note sent. */
  upstreamRequests: number;
  upstreamRequestsPerNote: number;
  /** From the POST to the `sent` record's updatedAt (deliver's clock, this machine), in ms. */
  latencyP50Ms: number;
  latencyP99Ms: number;
  sent: number;
  /** Notes that ended in another state (failed, dead) or were still pending at the timeout. */
  notSent: Record<string, number>;
  /** The provider's stats before and after (GET /_control/stats). */
  providerStats: { before: ProviderStats | null; after: ProviderStats | null };
  /** Set when the run could not happen or did not finish; the figures above are then partial. */
  failure?: string;
}

/**
 * Recipients the notes are spread over. Ingest limits each token (one per recipient) to 60 notes a
 * minute (wrangler.ingest.toml); 50 notes per recipient stay under it for a run of any length.
 */
const NOTES_PER_RECIPIENT = 50;

/** What packages/local-provider/src/control.ts answers, as far as the bench reads it. */
export interface ProviderStats {
  /** Requests to the send endpoints, whatever their answer (429s included). */
  requests: number;
  byStatus: Record<string, number>;
  /** Emails in the inbox. */
  emails: number;
  rateLimitPerSecond: number;
  /** Its delivery webhooks' posts; null when the stack runs without them. */
  webhooks: WebhookStats | null;
}

export async function providerStats(providerUrl: string): Promise<ProviderStats> {
  const response = await fetch(`${providerUrl}/_control/stats`);
  if (!response.ok) throw new Error(`GET /_control/stats answered ${response.status}`);
  return (await response.json()) as ProviderStats;
}

export async function postAll(
  ingestUrl: string,
  notes: { body: Uint8Array; authorization: string }[],
  concurrency: number,
): Promise<{ ids: string[]; postedAt: number[] }> {
  const ids = new Array<string>(notes.length);
  const postedAt = new Array<number>(notes.length);
  let next = 0;
  async function lane(): Promise<void> {
    while (next < notes.length) {
      const i = next++;
      const note = notes[i] as { body: Uint8Array; authorization: string };
      postedAt[i] = Date.now();
      const response = await fetch(`${ingestUrl}/v1/notes`, {
        method: "POST",
        headers: { "content-type": "application/octet-stream", authorization: note.authorization },
        body: note.body as Uint8Array<ArrayBuffer>,
      });
      const text = await response.text();
      if (response.status !== 202) throw new Error(`POST /v1/notes answered ${response.status} ${text.slice(0, 300)}`);
      ids[i] = (JSON.parse(text) as { id: string }).id;
    }
  }
  await Promise.all(Array.from({ length: concurrency }, lane));
  return { ids, postedAt };
}

export interface NoteStatus {
  id: string;
  state: NoteState | "unknown";
  updatedAt?: string;
}

/** What the polls cost: each request is a Worker request, each id in it a KV read. */
export interface PollCount {
  requests: number;
  ids: number;
}

/** The states a note is waiting in until it is sent. */
export const UNTIL_SENT: ReadonlySet<string> = new Set(["unknown", "queued", "retrying"]);

/**
 * Polls `POST /v1/notes/status` until every note has left the pending states (default: until
 * sent) or the deadline passes; counts its requests and ids in `count` if given.
 */
export async function pollUntilSent(
  ingestUrl: string,
  ids: string[],
  options: Pick<PipelineOptions, "pollIntervalMs" | "stallMs">,
  deadline: number,
  pendingStates: ReadonlySet<string> = UNTIL_SENT,
  count: PollCount = { requests: 0, ids: 0 },
): Promise<Map<string, NoteStatus>> {
  const settled = new Map<string, NoteStatus>();
  const seen = new Map<string, string>();
  let lastChange = Date.now();
  while (settled.size < ids.length && Date.now() < deadline && Date.now() - lastChange < options.stallMs) {
    const started = Date.now();
    const pending = ids.filter((id) => !settled.has(id));
    for (let i = 0; i < pending.length; i += 100) {
      const asked = pending.slice(i, i + 100);
      count.requests++;
      count.ids += asked.length;
      const response = await fetch(`${ingestUrl}/v1/notes/status`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ ids: asked }),
      });
      if (!response.ok) throw new Error(`POST /v1/notes/status answered ${response.status} ${await response.text()}`);
      const { notes } = (await response.json()) as { notes: NoteStatus[] };
      for (const note of notes) {
        if (seen.get(note.id) !== note.state) lastChange = Date.now();
        seen.set(note.id, note.state);
        if (!pendingStates.has(note.state)) settled.set(note.id, note);
      }
    }
    const wait = options.pollIntervalMs - (Date.now() - started);
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
  }
  // What the pending notes last said, so the report can tell "queued" from "never seen".
  for (const [id, state] of seen) if (!settled.has(id)) settled.set(id, { id, state: state as NoteState | "unknown" });
  return settled;
}

export async function measurePipeline(
  options: PipelineOptions,
  progress: (message: string) => void,
): Promise<PipelineResult> {
  const size = NOTE_SIZES[0] ?? { label: "1.6 KB", frameBytes: 1_600 };
  const empty: PipelineResult = {
    options,
    noteBytes: size.frameBytes,
    postSeconds: Number.NaN,
    notesPerSecond: Number.NaN,
    upstreamRequests: Number.NaN,
    upstreamRequestsPerNote: Number.NaN,
    latencyP50Ms: Number.NaN,
    latencyP99Ms: Number.NaN,
    sent: 0,
    notSent: {},
    providerStats: { before: null, after: null },
  };
  progress("pipeline: starting the local stack");
  let stack: LocalStack;
  try {
    // Ephemeral: fresh queues and KV, removed at stop(); free ports, so a running `pnpm dev` is no obstacle.
    stack = await startStack({ ingestPort: 0, providerPort: 0, ephemeral: true });
  } catch (error) {
    return { ...empty, failure: `The local stack did not start: ${error instanceof Error ? error.message : error}` };
  }
  const recipients = Math.ceil(options.notes / NOTES_PER_RECIPIENT);
  const templates: SampleNote[] = [];
  for (let r = 0; r < recipients; r++) {
    templates.push(await sampleNote(size, 7_000 + r, `bench.${r}@example.com`, stack.tokenSecrets));
  }
  const notes = Array.from({ length: options.notes }, (_, i) => {
    const template = templates[i % recipients] as SampleNote;
    return { body: withNoteId(template.frame, i), authorization: template.authorization };
  });
  try {
    const before = await providerStats(stack.providerUrl);
    progress(`pipeline: posting ${options.notes} notes`);
    const deadline = Date.now() + options.timeoutMs;
    const firstPost = Date.now();
    const { ids, postedAt } = await postAll(stack.ingestUrl, notes, options.concurrency);
    const postSeconds = (Date.now() - firstPost) / 1000;
    progress("pipeline: polling statuses");
    const settled = await pollUntilSent(stack.ingestUrl, ids, options, deadline);
    const after = await providerStats(stack.providerUrl);

    const latencies: number[] = [];
    const notSent: Record<string, number> = {};
    let lastSent = firstPost;
    ids.forEach((id, i) => {
      const status = settled.get(id);
      if (status === undefined || !SENT_STATES.has(status.state as NoteState)) {
        const state = status === undefined ? "never polled" : `${status.state} at the end`;
        notSent[state] = (notSent[state] ?? 0) + 1;
        return;
      }
      const sentAt = Date.parse(status.updatedAt ?? "");
      latencies.push(sentAt - (postedAt[i] as number));
      lastSent = Math.max(lastSent, sentAt);
    });
    const upstreamRequests = after.requests - before.requests;
    const sent = latencies.length;
    return {
      ...empty,
      postSeconds,
      notesPerSecond: sent / ((lastSent - firstPost) / 1000),
      upstreamRequests,
      upstreamRequestsPerNote: upstreamRequests / Math.max(1, sent),
      latencyP50Ms: percentile(latencies, 50),
      latencyP99Ms: percentile(latencies, 99),
      sent,
      notSent,
      providerStats: { before, after },
      ...(sent < options.notes ? { failure: `${options.notes - sent} of ${options.notes} notes were not sent.` } : {}),
    };
  } catch (error) {
    return { ...empty, failure: error instanceof Error ? error.message : String(error) };
  } finally {
    await stack.stop();
  }
}
