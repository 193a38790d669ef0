/**
 * What the end-to-end tests do as a client and as a recipient: encrypt and frame a note, post it
 * with a token for its recipient, poll the status of many notes, and read the local provider's inbox.
 */

import { setTimeout as sleep } from "node:timers/promises";
import { encodeFrame, noteIdToUuid } from "@notepipe/frame";
import type { InboxEmail } from "@notepipe/local-provider";
import type { Stack } from "@notepipe/local-stack";
import { MAX_STATUS_IDS, type NoteState, type NoteStatusList, type NoteStatusQuery } from "@notepipe/pipeline";
import { parseTokenSecrets, signClientToken } from "@notepipe/token";

/**
 * Short retries for the deliver Worker, so that a run with ~30 % failures ends in seconds. Keys the
 * deliver config does not declare under [vars] are ignored by wrangler.
 */
export const FAST_RETRY_VARS = { RETRY_BASE_SECONDS: "1", RETRY_MAX_SECONDS: "2" };

/** States a note does not leave without an ops action (or a webhook, after `sent`). */
export const FINAL_STATES: ReadonlySet<string> = new Set<NoteState>([
  "sent",
  "delivered",
  "bounced",
  "complained",
  "failed",
  "dead",
]);

export interface Note {
  id: string;
  text: string;
  recipient: string;
  key: CryptoKey;
  frame: Uint8Array<ArrayBuffer>;
}

/** One AES-256-GCM key for a whole test file: encryption is not what these tests are about. */
const sharedKey = crypto.subtle.generateKey({ name: "AES-GCM", length: 256 }, false, ["encrypt", "decrypt"]);

export async function makeNote(text: string, recipient: string): Promise<Note> {
  const key = await sharedKey;
  const noteId = crypto.getRandomValues(new Uint8Array(16));
  const nonce = crypto.getRandomValues(new Uint8Array(12));
  const ciphertext = new Uint8Array(
    await crypto.subtle.encrypt({ name: "AES-GCM", iv: nonce }, key, new TextEncoder().encode(text)),
  );
  const frame = encodeFrame({ noteId, recipient, nonce, ciphertext }) as Uint8Array<ArrayBuffer>;
  return { id: noteIdToUuid(noteId), text, recipient, key, frame };
}

/** POST /v1/notes with a token for the note's recipient, signed with the stack's first kid. */
export async function postNote(stack: Stack, note: Note): Promise<Response> {
  const secrets = parseTokenSecrets(stack.tokenSecrets);
  const kid = secrets.keys().next().value as string;
  return fetch(`${stack.ingestUrl}/v1/notes`, {
    method: "POST",
    headers: {
      "content-type": "application/octet-stream",
      authorization: `Bearer ${await signClientToken(secrets, kid, note.recipient)}`,
    },
    body: note.frame,
  });
}

/** How often a client posts one note when ingest answers 429 or 503: bounds each post's retries. */
const POST_ATTEMPTS = 5;

/**
 * Posts a note like a client does: the same frame again on 429 or 503, after Retry-After (5 s at
 * most), up to 5 times; true once ingest answered 202.
 */
export async function postAsClient(stack: Stack, note: Note): Promise<boolean> {
  for (let attempt = 1; attempt <= POST_ATTEMPTS; attempt++) {
    const res = await postNote(stack, note);
    if (res.status === 202) return true;
    if (res.status !== 429 && res.status !== 503) return false;
    const retryAfter = Number(res.headers.get("retry-after") ?? "1");
    await sleep(Math.min(retryAfter, 5) * 1000);
  }
  return false;
}

/** Waits until `time` (a `performance.now()` reading), at once if it has passed. */
export function sleepUntil(time: number): Promise<void> {
  return sleep(Math.max(0, time - performance.now()));
}

export const FATES = ["sent once", "duplicated", "lost", "failed", "unsettled"] as const;
export type Fate = (typeof FATES)[number];

/**
 * What became of one accepted note by the end of a run whose faults were all transient, from its
 * last state and its emails. `lost`: no email and not failed (still retrying counts). `unsettled`:
 * one email, but no `sent` record.
 */
export function fateOf(state: string | undefined, emails: number): Fate {
  if (emails > 1) return "duplicated";
  if (state === "failed" || state === "dead") return "failed";
  if (emails === 0) return "lost";
  return state === "sent" ? "sent once" : "unsettled";
}

/**
 * Polls `POST /v1/notes/status` (MAX_STATUS_IDS ids per call) until every note is in a final state
 * or the time is up; answers the last state seen for each ("unknown" where there was no record).
 */
export async function waitForFinalStates(stack: Stack, ids: readonly string[], timeoutMs: number) {
  const states = new Map<string, string>(ids.map((id) => [id, "unknown"]));
  const deadline = Date.now() + timeoutMs;
  for (let polls = 0; ; polls++) {
    const pending = ids.filter((id) => !FINAL_STATES.has(states.get(id) as string));
    // At least one poll, so that a timeout of 0 reads every state once.
    if (pending.length === 0 || (polls > 0 && Date.now() > deadline)) return states;
    for (let i = 0; i < pending.length; i += MAX_STATUS_IDS) {
      const res = await fetch(`${stack.ingestUrl}/v1/notes/status`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ ids: pending.slice(i, i + MAX_STATUS_IDS) } satisfies NoteStatusQuery),
      });
      const { notes } = (await res.json()) as NoteStatusList;
      for (const note of notes) states.set(note.id, note.state);
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

/**
 * Sets a local provider's run-time faults (packages/local-provider, "Faults") through its control
 * endpoint; throws unless it took them.
 */
export async function setFaults(providerUrl: string, faults: Record<string, unknown>): Promise<void> {
  const res = await fetch(`${providerUrl}/_control/faults`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(faults),
  });
  if (res.status !== 200) throw new Error(`the local provider refused the faults: ${res.status} ${await res.text()}`);
}

/** The provider's inbox, grouped by the note id each email carries. */
export async function emailsByNote(stack: Stack): Promise<Map<string, InboxEmail[]>> {
  const res = await fetch(`${stack.providerUrl}/inbox`);
  const { emails } = (await res.json()) as { emails: InboxEmail[] };
  const byNote = new Map<string, InboxEmail[]>();
  for (const email of emails) {
    const id = email.noteId ?? "(none)";
    byNote.set(id, [...(byNote.get(id) ?? []), email]);
  }
  return byNote;
}

/** The recipient's side: `<base64 nonce>\n<base64 ciphertext>` and the shared key give the text. */
export async function decryptEmailText(text: string | null, key: CryptoKey): Promise<string> {
  const [nonce, ciphertext] = (text ?? "").split("\n");
  const plaintext = await crypto.subtle.decrypt(
    { name: "AES-GCM", iv: Buffer.from(nonce ?? "", "base64") },
    key,
    Buffer.from(ciphertext ?? "", "base64"),
  );
  return new TextDecoder().decode(plaintext);
}
