/**
 * Every request the Worker makes to the provider says who it is. Resend's edge refuses a request
 * without a User-Agent (403, Cloudflare error 1010), and a Worker's fetch sends none of its own.
 */

import { env } from "cloudflare:workers";
import type { CodeMessage } from "@notepipe/pipeline";
import { expect, it } from "vitest";
import { DEFAULT_USER_AGENT } from "../src/config.ts";
import { envWith } from "./ledger.ts";
import { makeNote, messageOf, mockProvider, rawMessage, resendAccepted, runQueue } from "./notes.ts";

/** The Worker's env with MAIL_USER_AGENT set (wrangler types it as the toml's literal ""). */
function userAgent(value: string): Env {
  return envWith({ MAIL_USER_AGENT: value } as unknown as Partial<Env>);
}

function codeMessage() {
  const body: CodeMessage = { kind: "code", to: "ada@example.com", code: "7KQ2M9XD", expiresAt: Date.now() + 600_000 };
  return rawMessage(body);
}

it("sends notepipe/<version of the deliver package> on note batches and code emails alike", async () => {
  const seen = mockProvider(resendAccepted, resendAccepted);

  await runQueue("notes", [messageOf(makeNote())]);
  await runQueue("codes", [codeMessage()]);

  expect(seen).toHaveLength(2);
  expect(seen.map((request) => request.headers.get("user-agent"))).toEqual([DEFAULT_USER_AGENT, DEFAULT_USER_AGENT]);
  expect(DEFAULT_USER_AGENT).toBe("notepipe/1.0.0");
});

it("sends MAIL_USER_AGENT instead when it is set", async () => {
  const seen = mockProvider(resendAccepted);

  await runQueue("notes", [messageOf(makeNote())], userAgent("acme-notes/2.1 (+ops@acme.example)"));

  expect(seen[0]?.headers.get("user-agent")).toBe("acme-notes/2.1 (+ops@acme.example)");
});

it("holds every note back as a pipeline failure when MAIL_USER_AGENT is no header value", async () => {
  const seen = mockProvider();
  const message = messageOf(makeNote());

  const result = await runQueue("notes", [message], userAgent("notepipe\n/1.0"));

  expect(seen).toHaveLength(0);
  expect(result.explicitAcks).toEqual([]);
  expect(result.retryMessages).toEqual([{ msgId: message.id, delaySeconds: Number(env.PIPELINE_RETRY_SECONDS) }]);
});
