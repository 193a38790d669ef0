/**
 * The SDK against the real thing: the local stack (@notepipe/local-stack: wrangler dev running the
 * ingest and deliver Workers, the local mail provider with delivery webhooks). Notes are sent with
 * `send`, followed with `resumeOnOpen` until they are final, read from the provider's inbox and
 * opened with `decrypt`. A stack rather than workerd alone: "one email per note" can only be
 * counted where deliver and a mail provider run too.
 */

import type { InboxEmail } from "@notepipe/local-provider";
import { type LocalStack as Stack, startStack } from "@notepipe/local-stack";
import { parseTokenSecrets, signClientToken } from "@notepipe/token";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type ClientConfig,
  decrypt,
  generateKey,
  MemoryPendingStore,
  type NoteChange,
  NotepipeError,
  resumeOnOpen,
  send,
} from "../src/index.ts";

const POLL_INTERVAL_MS = 500;
const FINAL_WITHIN_MS = 90_000;

let stack: Stack;
const key = await generateKey();

beforeAll(async () => {
  stack = await startStack({ ingestPort: 0, providerPort: 0, ephemeral: true, deliveryWebhooks: true });
});

afterAll(async () => {
  await stack?.stop();
});

async function tokenFor(recipient: string): Promise<string> {
  const secrets = parseTokenSecrets(stack.tokenSecrets);
  return signClientToken(secrets, secrets.keys().next().value as string, recipient);
}

/** Calls `resumeOnOpen` as an app would on each start, until nothing is pending; every change seen. */
async function resumeUntilSettled(client: ClientConfig & { store: MemoryPendingStore }): Promise<NoteChange[]> {
  const seen: NoteChange[] = [];
  const deadline = Date.now() + FINAL_WITHIN_MS;
  for (;;) {
    const { changes, pending } = await resumeOnOpen(client);
    seen.push(...changes);
    if (pending.length === 0) return seen;
    if (Date.now() > deadline) {
      throw new Error(`Still pending after ${FINAL_WITHIN_MS} ms: ${JSON.stringify(pending)}`);
    }
    await new Promise((resolve) => setTimeout(resolve, POLL_INTERVAL_MS));
  }
}

async function inboxFor(id: string): Promise<InboxEmail[]> {
  const res = await fetch(`${stack.providerUrl}/inbox?note_id=${id}`);
  return ((await res.json()) as { emails: InboxEmail[] }).emails;
}

describe("the SDK through the real ingest", () => {
  it("sends notes that end delivered or bounced, as one email each that decrypts to the note", async () => {
    const store = new MemoryPendingStore();
    // The first POST reaches ingest, which queues the note, but its answer is lost on the way back:
    // send must retry with the same frame, and the note must still become one email.
    let lostAnswers = 0;
    const losesFirstAnswer: typeof fetch = async (input, init) => {
      const res = await fetch(input, init);
      if (String(input).endsWith("/v1/notes") && lostAnswers === 0) {
        lostAnswers++;
        await res.arrayBuffer();
        throw new TypeError("fetch failed: the connection was reset after the request was sent");
      }
      return res;
    };
    const client = { endpoint: stack.ingestUrl, store, fetch: losesFirstAnswer };
    const notes = [
      { to: "ada@example.com", text: "Its first answer was lost: sent twice, one email." },
      { to: "grace@example.com", text: "Zweite Notiz: Grüße, 東京 🔐" },
      { to: "bounced@example.com", text: "Accepted by the provider, then bounced by the mailbox." },
    ];

    const ids: string[] = [];
    for (const note of notes) ids.push(await send(client, { ...note, key, token: await tokenFor(note.to) }));
    expect(lostAnswers).toBe(1);
    expect(store.list().map((note) => [note.id, note.state])).toEqual(ids.map((id) => [id, "pending"]));

    const changes = await resumeUntilSettled(client);

    const finalStates = Object.fromEntries(changes.filter((change) => change.final).map((c) => [c.id, c.state]));
    expect(finalStates).toEqual({
      [ids[0] as string]: "delivered",
      [ids[1] as string]: "delivered",
      [ids[2] as string]: "bounced",
    });
    for (const [i, note] of notes.entries()) {
      const emails = await inboxFor(ids[i] as string);
      expect(emails).toHaveLength(1);
      expect(emails[0]?.to).toEqual([note.to]);
      expect(await decrypt(emails[0]?.text ?? "", key)).toBe(note.text);
    }
  });

  it("passes ingest's refusal through as a typed error, with no retry and nothing pending", async () => {
    const store = new MemoryPendingStore();
    let requests = 0;
    const counting: typeof fetch = (input, init) => {
      requests++;
      return fetch(input, init);
    };

    const error = await send(
      { endpoint: stack.ingestUrl, store, fetch: counting },
      { to: "ada@example.com", text: "Signed for someone else.", key, token: await tokenFor("grace@example.com") },
    ).catch((error: unknown) => error);

    expect(error).toBeInstanceOf(NotepipeError);
    expect(error).toMatchObject({ code: "recipient_not_allowed", status: 403, retryable: false });
    expect(requests).toBe(1);
    expect(store.list()).toEqual([]);
  });
});
