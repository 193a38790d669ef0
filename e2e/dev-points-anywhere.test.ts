/**
 * `pnpm dev` points anywhere: a MAIL_API_URL on this machine that is not the local provider's own
 * URL, such as a developer's mock, gets the deliver Worker's requests, and the local provider is
 * not started in its place.
 */

import { once } from "node:events";
import { createServer as createHttpServer, type IncomingHttpHeaders } from "node:http";
import { type AddressInfo, connect, createServer } from "node:net";
import { exampleDevVars, type Stack, startStack } from "@notepipe/local-stack";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FAST_RETRY_VARS, makeNote, postNote, waitForFinalStates } from "./notes.ts";

interface RecordedRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
}

/** The developer's own mock: records each request and answers as Resend's batch endpoint does on success. */
async function startRecorder() {
  const requests: RecordedRequest[] = [];
  let onFirst: (request: RecordedRequest) => void = () => {};
  const first = new Promise<RecordedRequest>((resolve) => {
    onFirst = resolve;
  });
  const server = createHttpServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const request = {
      method: req.method ?? "",
      path: req.url ?? "",
      headers: req.headers,
      body: Buffer.concat(chunks).toString("utf8"),
    };
    requests.push(request);
    onFirst(request);
    const emails = JSON.parse(request.body) as unknown[];
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify({ data: emails.map((_email, i) => ({ id: `mock-${requests.length}-${i}` })) }));
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    first,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** A port nothing listens on: one the system just handed out and took back. */
async function closedPort(): Promise<number> {
  const server = createServer().listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Whether anything accepts a connection on 127.0.0.1:`port`. */
function listens(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, "127.0.0.1");
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} within ${ms / 1000} s`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

let recorder: Awaited<ReturnType<typeof startRecorder>>;
let providerPort: number;
let stack: Stack;

beforeAll(async () => {
  recorder = await startRecorder();
  providerPort = await closedPort();
  stack = await startStack({
    ingestPort: 0,
    providerPort,
    ephemeral: true,
    mailApiUrl: recorder.url,
    deliverVars: FAST_RETRY_VARS,
  });
});

afterAll(async () => {
  await stack?.stop();
  await recorder?.close();
});

describe("a stack whose MAIL_API_URL is a server of the developer's own on 127.0.0.1", () => {
  it("starts no local provider and says deliver sends to that server", async () => {
    expect(stack.provider).toBeNull();
    expect(stack.providerUrl).toBeNull();
    expect(stack.mailApiUrl).toBe(recorder.url);
    expect(await listens(providerPort)).toBe(false);
  });

  it("delivers a posted note there: the deliver Worker's batch request, and the note ends sent", async () => {
    const note = await makeNote("To my own mock, not the local provider.", "ada@example.com");
    expect((await postNote(stack, note)).status).toBe(202);

    const request = await within(recorder.first, 60_000, "no request reached the developer's server");
    expect(`${request.method} ${request.path}`).toBe("POST /emails/batch");
    expect(request.headers.authorization).toBe(`Bearer ${exampleDevVars().MAIL_API_KEY}`);
    expect(JSON.parse(request.body)).toEqual([
      expect.objectContaining({
        to: [note.recipient],
        headers: { "X-Notepipe-Note-Id": note.id },
        tags: [{ name: "note_id", value: note.id }],
      }),
    ]);

    const states = await waitForFinalStates(stack, [note.id], 60_000);
    expect(states.get(note.id)).toBe("sent");
    expect(recorder.requests).toHaveLength(1);
  });
});
