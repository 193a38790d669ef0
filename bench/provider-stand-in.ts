/**
 * The mail provider's batch endpoints as the deliver bench's consumer calls them, in a Node process
 * of its own (`fork`), so that neither its CPU nor its waits land in workerd's counters or in the
 * bench's own event loop. It reads every request's whole body, parses it, checks it is a batch the
 * provider would take, and answers as the provider does when it takes every email:
 *
 * - Resend `POST /emails/batch` (permissive validation): `{"data":[{"id"}…],"errors":[]}`;
 * - Postmark `POST /email/batch`: one `{"ErrorCode":0,"MessageID"…}` per message.
 *
 * A body that is not such a batch gets the provider's 422 and is counted `refused`, so that a
 * run whose requests were wrong fails instead of measuring them. `GET /_stats` answers the counts.
 * {@link ProviderStandIn} is the parent's handle; the bottom of this file is the child.
 */

import { type ChildProcess, fork } from "node:child_process";
import { randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";

export interface ProviderStats {
  /** Batch requests answered, refused ones included. */
  requests: number;
  /** Emails in the batches it took. */
  emails: number;
  /** Requests refused with a 422: what was wrong with the first. */
  refused: number;
  firstRefusal?: string;
  /** Body bytes received. */
  bytes: number;
}

/** Resend's batch limit (https://resend.com/docs/api-reference/emails/send-batch-emails); Postmark's is 500. */
const LIMITS = { resend: 100, postmark: 500 } as const;

export class ProviderStandIn {
  readonly #child: ChildProcess;
  readonly url: Promise<string>;

  constructor() {
    this.#child = fork(fileURLToPath(import.meta.url), [], { stdio: "inherit" });
    this.url = new Promise((resolve, reject) => {
      this.#child.once("message", (message: { port: number }) => resolve(`http://127.0.0.1:${message.port}`));
      this.#child.once("exit", (code) => reject(new Error(`The provider stand-in exited (${code}).`)));
    });
  }

  async stats(): Promise<ProviderStats> {
    const response = await fetch(`${await this.url}/_stats`);
    return (await response.json()) as ProviderStats;
  }

  stop(): void {
    this.#child.kill();
  }
}

/** What the stats moved by between two readings. */
export function statsBetween(before: ProviderStats, after: ProviderStats): ProviderStats {
  return {
    requests: after.requests - before.requests,
    emails: after.emails - before.emails,
    refused: after.refused - before.refused,
    ...(after.firstRefusal !== before.firstRefusal && after.firstRefusal !== undefined
      ? { firstRefusal: after.firstRefusal }
      : {}),
    bytes: after.bytes - before.bytes,
  };
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value);

/** Why `json` is not a batch the provider would take, or null. */
function batchProblem(provider: keyof typeof LIMITS, json: unknown): string | null {
  if (!Array.isArray(json)) return "the body is not a JSON array";
  if (json.length === 0 || json.length > LIMITS[provider]) return `a batch holds 1 to ${LIMITS[provider]} emails`;
  for (const [i, email] of json.entries()) {
    const ok =
      provider === "resend"
        ? isObject(email) &&
          typeof email.from === "string" &&
          Array.isArray(email.to) &&
          email.to.length === 1 &&
          typeof email.subject === "string" &&
          typeof email.text === "string"
        : isObject(email) &&
          typeof email.From === "string" &&
          typeof email.To === "string" &&
          typeof email.Subject === "string" &&
          typeof email.TextBody === "string";
    if (!ok) return `email ${i} lacks its sender, one recipient, a subject or its text`;
  }
  return null;
}

function serve(): void {
  const stats: ProviderStats = { requests: 0, emails: 0, refused: 0, bytes: 0 };
  const answer = (response: ServerResponse, status: number, body: unknown) => {
    response.writeHead(status, { "content-type": "application/json" });
    response.end(JSON.stringify(body));
  };
  const server = createServer((request: IncomingMessage, response: ServerResponse) => {
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", () => {
      if (request.method === "GET" && request.url === "/_stats") return answer(response, 200, stats);
      const provider =
        request.method === "POST" && request.url === "/emails/batch"
          ? "resend"
          : request.method === "POST" && request.url === "/email/batch"
            ? "postmark"
            : undefined;
      if (provider === undefined) return answer(response, 404, { name: "not_found", message: "No such route." });
      const body = Buffer.concat(chunks);
      stats.requests++;
      stats.bytes += body.length;
      let json: unknown;
      try {
        json = JSON.parse(body.toString("utf8"));
      } catch {
        json = undefined;
      }
      const problem = batchProblem(provider, json);
      if (problem !== null) {
        stats.refused++;
        stats.firstRefusal ??= problem;
        return provider === "resend"
          ? answer(response, 422, { name: "validation_error", message: problem })
          : answer(response, 422, { ErrorCode: 300, Message: problem });
      }
      const emails = json as unknown[];
      stats.emails += emails.length;
      if (provider === "resend")
        return answer(response, 200, { data: emails.map(() => ({ id: randomUUID() })), errors: [] });
      const at = new Date().toISOString();
      return answer(
        response,
        200,
        emails.map((email) => ({
          ErrorCode: 0,
          Message: "OK",
          MessageID: randomUUID(),
          SubmittedAt: at,
          To: (email as { To: string }).To,
        })),
      );
    });
  });
  server.keepAliveTimeout = 60_000;
  server.listen(0, "127.0.0.1", () => process.send?.({ port: (server.address() as AddressInfo).port }));
}

// The child: this file started by ProviderStandIn, not imported.
if (process.argv[1] === fileURLToPath(import.meta.url) && process.send !== undefined) {
  // The bench went away (it ended, or was killed): so does its stand-in.
  process.on("disconnect", () => process.exit(0));
  serve();
}
