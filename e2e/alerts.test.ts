/**
 * Alerts on the real local stack, where no Cron runs: the local provider refuses the sender, the
 * ledger's alarm posts the pipeline-failure alert to a webhook receiver once the refusal outlasts
 * ALERT_PIPELINE_FAILURE_SECONDS, and the recovery once the provider takes the note again.
 */

import { once } from "node:events";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { type LocalStack, startStack } from "@notepipe/local-stack";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeNote, postNote, setFaults, waitForFinalStates } from "./notes.ts";

/** Seconds: short, so the run takes seconds; the ledger's alarm, not a Cron, must meet them. */
const ALERT_VARS = {
  ALERT_PIPELINE_FAILURE_SECONDS: "3",
  // A refused sender is tried again after these; the defaults (an hour, a minute) would hold the note.
  PIPELINE_RETRY_SECONDS: "2",
  CIRCUIT_PROBE_SECONDS: "1",
};
/** Bounds each wait for the receiver on a slow, loaded 2-core machine; no assertion is timed. */
const WAIT_MS = 60_000;

/** A Slack-style incoming webhook on 127.0.0.1: keeps each post's `text`, answers 200. */
class WebhookReceiver {
  readonly texts: string[] = [];
  private readonly server: Server;
  private waiters: (() => void)[] = [];

  constructor() {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (chunk: Buffer) => chunks.push(chunk));
      req.on("end", () => {
        const body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as { text: string; content: string };
        this.texts.push(body.text);
        res.writeHead(200, { "content-type": "text/plain" }).end("ok");
        for (const wake of this.waiters.splice(0)) wake();
      });
    });
  }

  async listen(): Promise<string> {
    this.server.listen(0, "127.0.0.1");
    await once(this.server, "listening");
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/services/T000/B000/e2e`;
  }

  /** The first post matching `pattern`, waiting for posts as they arrive; rejects after `timeoutMs`. */
  async post(pattern: RegExp, timeoutMs: number): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    // Bounded: each round waits for one more post or the deadline.
    for (;;) {
      const found = this.texts.find((text) => pattern.test(text));
      if (found !== undefined) return found;
      const left = deadline - Date.now();
      if (left <= 0)
        throw new Error(`no post matching ${pattern} within ${timeoutMs / 1000} s; got ${JSON.stringify(this.texts)}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

let receiver: WebhookReceiver;
let stack: LocalStack;

beforeAll(async () => {
  receiver = new WebhookReceiver();
  const webhook = await receiver.listen();
  stack = await startStack({
    ingestPort: 0,
    providerPort: 0,
    ephemeral: true,
    deliverVars: ALERT_VARS,
    opsAlertWebhookUrl: webhook,
  });
});

afterAll(async () => {
  await stack?.stop();
  await receiver?.close();
});

describe("alerts on the local stack", () => {
  it("posts the pipeline failure once the sender is refused past the threshold, then its recovery, and the note is sent", async () => {
    await setFaults(stack.providerUrl, { reject: "domain_not_verified" });
    const note = await makeNote("held while the sender is refused", "ada@example.com");
    expect((await postNote(stack, note)).status).toBe(202);

    const alert = await receiver.post(/^notepipe ALERT \(pipeline_failure\)/, WAIT_MS);
    expect(alert).toContain("(sender_not_verified)");
    expect(receiver.texts.filter((text) => text.includes("recovered"))).toEqual([]);

    await setFaults(stack.providerUrl, {});
    const recovery = await receiver.post(/^notepipe recovered \(pipeline_failure\)/, WAIT_MS);
    expect(recovery).toBe("notepipe recovered (pipeline_failure): The mail provider accepts requests again.");

    expect((await waitForFinalStates(stack, [note.id], WAIT_MS)).get(note.id)).toBe("sent");
    // One alert and one recovery, each posted once.
    expect(receiver.texts).toEqual([alert, recovery]);
  });
});
