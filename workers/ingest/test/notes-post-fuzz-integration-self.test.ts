/**
 * POST /v1/notes against what anyone may send: 10^5 seeded frames, random and mutated from valid
 * ones (bytes set, flipped, inserted, deleted, truncated, padded past the cap, the recipient length
 * rewritten), with their own token, another recipient's or none, in one piece or in random chunks
 * without Content-Length. Never a 5xx, each answer the one the frame and token call for, and
 * nothing reaches the queue that is not a valid frame, byte for byte as posted.
 *
 * 10^5 go to the Worker's own fetch handler, in workerd, with the real token check and decoder:
 * 0.5 ms a frame here, where a request through the runtime (`exports.default.fetch`) costs 2.8 ms
 * and 10^5 of them near 5 minutes; 2,000 more take that way, for what the runtime adds (the
 * Content-Length it sets, the body's pipe). The queue send is a spy (10^5 messages would only fill
 * a local queue) and the rate limiter says yes (else every valid frame after a token's fifth would
 * stop at 429 instead of reaching the send).
 */

import { createExecutionContext } from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import { decodeFrame, encodeFrame, FIXED_HEADER_BYTES, MAX_FRAME_BYTES, noteIdToUuid } from "@notepipe/frame";
import { type NoteMessage, SMALL_FRAME_MAX_BYTES } from "@notepipe/pipeline";
import fc from "fast-check";
import { expect, it, vi } from "vitest";
import { validRecipient } from "../../../packages/frame/test/arbitraries.ts";
import worker from "../src/index.ts";
import { BASE, tokenFor } from "./client.ts";

const IncomingRequest = Request<unknown, IncomingRequestCfProperties>;

type Mutation =
  | { kind: "set"; at: number; value: number }
  | { kind: "flip"; at: number; bit: number }
  | { kind: "truncate"; at: number }
  | { kind: "insert"; at: number; bytes: Uint8Array }
  | { kind: "delete"; at: number; length: number }
  | { kind: "recipientLength"; value: number }
  | { kind: "padTo"; length: number };

/** Mostly the header and the recipient, where the decoder has the most to say. */
const position = fc.oneof(fc.integer({ min: 0, max: FIXED_HEADER_BYTES + 40 }), fc.nat());

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant("set" as const), at: position, value: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant("flip" as const), at: position, bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ kind: fc.constant("truncate" as const), at: position }),
  fc.record({
    kind: fc.constant("insert" as const),
    at: position,
    bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }),
  }),
  fc.record({ kind: fc.constant("delete" as const), at: position, length: fc.integer({ min: 1, max: 8 }) }),
  fc.record({ kind: fc.constant("recipientLength" as const), value: fc.integer({ min: 0, max: 0xffff }) }),
  fc.record({
    kind: fc.constant("padTo" as const),
    length: fc.integer({ min: MAX_FRAME_BYTES - 2, max: MAX_FRAME_BYTES + 2 }),
  }),
);

function mutate(frame: Uint8Array, m: Mutation): Uint8Array {
  const at = m.kind === "recipientLength" || m.kind === "padTo" ? 0 : m.at % (frame.length + 1);
  switch (m.kind) {
    case "set":
      return at < frame.length ? frame.with(at, m.value) : frame;
    case "flip":
      return at < frame.length ? frame.with(at, (frame[at] as number) ^ (1 << m.bit)) : frame;
    case "truncate":
      return frame.subarray(0, at);
    case "insert":
      return concat(frame.subarray(0, at), m.bytes, frame.subarray(at));
    case "delete":
      return concat(frame.subarray(0, at), frame.subarray(at + m.length));
    case "recipientLength":
      return frame.length < FIXED_HEADER_BYTES ? frame : frame.with(20, m.value >> 8).with(21, m.value & 0xff);
    case "padTo":
      return m.length <= frame.length ? frame : concat(frame, new Uint8Array(m.length - frame.length));
  }
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const bytes = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    bytes.set(part, offset);
    offset += part.length;
  }
  return bytes;
}

const validFrame = fc
  .record({
    noteId: fc.uint8Array({ minLength: 16, maxLength: 16 }),
    recipient: validRecipient,
    nonce: fc.uint8Array({ minLength: 12, maxLength: 12 }),
    ciphertext: fc.tuple(
      fc.oneof(
        { weight: 20, arbitrary: fc.integer({ min: 17, max: 1024 }) },
        { weight: 1, arbitrary: fc.integer({ min: 60_000, max: 65_000 }) },
      ),
      fc.integer(),
    ),
  })
  .map(({ ciphertext: [length, seed], ...input }) => ({
    recipient: input.recipient,
    frame: encodeFrame({ ...input, ciphertext: noise(length, seed) }),
  }));

/**
 * Ciphertext is opaque to ingest, so its bytes only need to vary: a seeded xorshift fills it, where
 * fast-check would draw each of up to 65,000 bytes on its own (17 ms per large frame).
 */
function noise(length: number, seed: number): Uint8Array {
  const bytes = new Uint8Array(length);
  let x = seed | 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    bytes[i] = x;
  }
  return bytes;
}

/** What is posted: a valid frame mutated 0 to 3 times, random bytes, or random bytes after a valid start. */
const posted = fc.oneof(
  {
    weight: 8,
    arbitrary: fc
      .tuple(validFrame, fc.array(mutation, { maxLength: 3 }))
      .map(([{ recipient, frame }, mutations]) => ({ recipient, bytes: mutations.reduce(mutate, frame) })),
  },
  { weight: 1, arbitrary: fc.record({ recipient: validRecipient, bytes: fc.uint8Array({ maxLength: 300 }) }) },
  {
    weight: 1,
    arbitrary: fc
      .record({ recipient: validRecipient, tail: fc.uint8Array({ maxLength: 300 }) })
      .map(({ recipient, tail }) => ({ recipient, bytes: concat(new Uint8Array([0x4e, 0x50, 1, 0]), tail) })),
  },
);

/** Whose token goes with it: the frame's recipient's, another address's, or none at all. */
const tokenOf = fc.constantFrom("own", "own", "own", "own", "other", "none");
/** How the bytes travel: in one piece with a Content-Length, or in chunks without one. */
const chunking = fc.option(fc.array(fc.integer({ min: 1, max: 8192 }), { minLength: 1, maxLength: 8 }), {
  freq: 4,
});

function chunked(bytes: Uint8Array, sizes: number[]): ReadableStream<Uint8Array> {
  let offset = 0;
  let turn = 0;
  return new ReadableStream({
    pull(controller) {
      const size = sizes[turn++ % sizes.length] as number;
      controller.enqueue(bytes.slice(offset, offset + size));
      offset += size;
      if (offset >= bytes.length) controller.close();
    },
  });
}

/** What ingest must answer, in the order it checks (src/routes/post-note.ts). */
function expectedStatus(bytes: Uint8Array, declaresLength: boolean, tokenRecipient: string | null): number {
  if (declaresLength && bytes.length > MAX_FRAME_BYTES) return 413;
  if (tokenRecipient === null) return 401;
  const decoded = decodeFrame(bytes);
  if (!decoded.ok) return decoded.error === "frame_too_large" ? 413 : 400;
  return decoded.frame.recipient.toLowerCase() === tokenRecipient ? 202 : 403;
}

const ctx = createExecutionContext();
type Post = (request: InstanceType<typeof IncomingRequest>) => Response | Promise<Response>;
const WAYS: [way: string, runs: number, seed: number, post: Post][] = [
  ["to the Worker's fetch handler", 100_000, 0x6e6f7465, (request) => worker.fetch(request, env, ctx)],
  ["through the runtime", 2_000, 0x73656c66, (request) => exports.default.fetch(request)],
];

it.each(WAYS)(
  "answers frames posted %s without a 5xx, queueing only valid frames",
  async (way, numRuns, seed, post) => {
    const send = vi.spyOn(env.NOTES_QUEUE, "send").mockResolvedValue({ metadata: { metrics: {} } } as never);
    const sendLarge = vi.spyOn(env.NOTES_LARGE_QUEUE, "send").mockResolvedValue({ metadata: { metrics: {} } } as never);
    vi.spyOn(env.TOKEN_LIMITER, "limit").mockResolvedValue({ success: true });
    const statuses = new Map<number, number>();
    let runs = 0;

    await fc.assert(
      // Plain checks, not expect(): at 10^5 runs its bookkeeping would double the time. A thrown
      // Error fails the property, and fast-check shrinks the frame that broke it.
      fc.asyncProperty(posted, tokenOf, chunking, async ({ recipient, bytes }, whose, sizes) => {
        const tokenRecipient =
          whose === "none" ? null : whose === "own" ? recipient.toLowerCase() : "someone-else@example.com";
        const headers: Record<string, string> = { "content-type": "application/octet-stream" };
        if (tokenRecipient !== null) headers.authorization = `Bearer ${await tokenFor(tokenRecipient)}`;
        // In one piece, it declares its length as any HTTP client would; in chunks, nothing.
        const inOnePiece = sizes === null || bytes.length === 0;
        if (inOnePiece) headers["content-length"] = String(bytes.length);
        const body = inOnePiece ? bytes : chunked(bytes, sizes);
        const request = new IncomingRequest(`${BASE}/v1/notes`, { method: "POST", headers, body });
        const expected = expectedStatus(bytes, inOnePiece, tokenRecipient);

        const response = await post(request);

        runs++;
        statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
        const answer = await response.text();
        if (response.status !== expected) throw new Error(`answered ${response.status} ${answer}, not ${expected}`);
        const queued = [...send.mock.calls, ...sendLarge.mock.calls].map(([message]) => (message as NoteMessage).frame);
        const onLarge = sendLarge.mock.calls.length > 0;
        send.mockClear();
        sendLarge.mockClear();
        if (expected !== 202) {
          if (queued.length > 0) throw new Error(`queued ${queued.length} message(s) for a ${response.status}`);
          if (!/^\{"error":"[a-z_]+","message":"/.test(answer)) throw new Error(`not an error body: ${answer}`);
          return;
        }
        const [frame] = queued;
        if (queued.length !== 1 || frame === undefined) throw new Error(`queued ${queued.length} messages for a 202`);
        if (!decodeFrame(frame).ok) throw new Error("queued a frame that does not decode");
        if (onLarge !== frame.length > SMALL_FRAME_MAX_BYTES)
          throw new Error(`a ${frame.length}-byte frame on the wrong queue`);
        if (frame.length !== bytes.length || frame.some((byte, i) => byte !== bytes[i])) {
          throw new Error("queued other bytes than were posted");
        }
        if (answer !== `{"id":"${noteIdToUuid(bytes.subarray(4, 20))}"}`) throw new Error(`answered ${answer}`);
      }),
      { seed, numRuns },
    );

    const byStatus = [...statuses].sort(([a], [b]) => a - b).map(([status, n]) => `${n} × ${status}`);
    console.log(`fuzz: ${runs} frames posted ${way}: ${byStatus.join(", ")}; no 5xx`);
    expect(runs).toBe(numRuns);
  },
  300_000,
);
