/**
 * The request body build alone: the ack-only consumer plus deliver's own `sendEmails`
 * (workers/deliver/src/providers/provider.ts, with the provider and settings `readConfig` makes of
 * the real vars) for as many emails as deliver sent per invocation, with a `fetch` that never sends.
 *
 * That fetch brings the body `sendEmails` hands it to bytes, whatever its form, so that candidates
 * compare: a string is encoded to UTF-8 (what fetch does with one first: V8 flattens the string and
 * copies it out), a stream is read to its end (a body built lazily, chunk by chunk, is built then),
 * a Blob or bytes are bytes already; then it fails like a dropped connection. Left out is the
 * fetch's own part beyond that: the bytes onto the socket, HTTP, the answer.
 *
 * The emails are the bench's note (`PUT /body?emails=<n>`, the frame as the body), each under a
 * fresh note id: the messages' bodies are not read, because workerd deserialises a message's body
 * when it is first read, and that cost is the batch's, not the body build's. `n` is the number of
 * emails deliver's provider stand-in received per invocation at the same cell, so that a byte
 * budget which sends part of a batch is measured on the part it sends.
 */

import { decodeFrame, type Frame } from "@notepipe/frame";
import { readConfig } from "../../../workers/deliver/src/config.ts";
import { type OutgoingEmail, sendEmails } from "../../../workers/deliver/src/providers/provider.ts";

let note: { frame: Frame; emails: number } | undefined;

const utf8 = new TextEncoder();

globalThis.fetch = async (_input: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
  const body = init?.body;
  if (typeof body === "string") utf8.encode(body);
  else if (body instanceof ReadableStream) {
    const reader = body.getReader();
    while (!(await reader.read()).done) {
      // Every chunk pulled is a chunk built.
    }
  }
  throw new TypeError("Network connection lost.");
};

export default {
  async fetch(request) {
    const url = new URL(request.url);
    if (request.method !== "PUT" || url.pathname !== "/body") return new Response(null, { status: 404 });
    const decoded = decodeFrame(new Uint8Array(await request.arrayBuffer()));
    if (!decoded.ok) return new Response(decoded.message, { status: 400 });
    note = { frame: decoded.frame, emails: Number(url.searchParams.get("emails")) };
    return new Response(null, { status: 204 });
  },

  async queue(batch, env) {
    const read = readConfig(env);
    if (!read.ok) throw new Error(read.problem);
    if (note === undefined) throw new Error("body-build consumer: PUT /body first");
    const { recipient, nonce, ciphertext } = note.frame;
    const emails: OutgoingEmail[] = [];
    for (let i = 0; i < note.emails; i++) emails.push({ noteId: crypto.randomUUID(), recipient, nonce, ciphertext });
    await sendEmails(read.config.provider, read.config.send, emails, `notepipe-v2-${crypto.randomUUID()}`);
    for (const message of batch.messages) message.ack();
  },
} satisfies ExportedHandler<Env>;
