/**
 * The `notes` consumer through workerd's own queue event (`exports.default.queue`): what it
 * reports is what Queues acts on, retry delays included.
 */

import type { MessageBatchMessage, QueueResult } from "cloudflare:test";
import { exports } from "cloudflare:workers";
import { expect, it } from "vitest";
import { fixJitter, makeNote, messageOf, mockProvider, recordOf, resendAccepted, resendError } from "./notes.ts";

/** `queue()` on a service binding exists only under the experimental flag; the generated types lack it. */
const self = exports.default as unknown as {
  queue(queue: string, messages: MessageBatchMessage[]): Promise<QueueResult>;
};

it("acks what the provider took, and retries what it rate-limited after the delay it asked for", async () => {
  fixJitter(0);
  const [taken, limited] = [makeNote("ada@example.com"), makeNote("bob@example.com")];
  // Replies are built inside the handler's request: workerd refuses I/O objects from another request.
  mockProvider(resendAccepted, () =>
    resendError(429, "rate_limit_exceeded", "Too many requests.", { "retry-after": "7" }),
  );

  const first = messageOf(taken);
  const accepted = await self.queue("notes", [first]);
  const second = messageOf(limited);
  const refused = await self.queue("notes", [second]);

  expect(accepted).toMatchObject({ outcome: "ok", explicitAcks: [first.id], retryMessages: [] });
  expect(refused).toMatchObject({
    outcome: "ok",
    explicitAcks: [],
    retryMessages: [{ msgId: second.id, delaySeconds: 7 }],
  });
  expect(await recordOf(taken.id)).toMatchObject({ state: "sent" });
  expect(await recordOf(limited.id)).toMatchObject({ state: "retrying", errorCode: "rate_limited" });
});
