/**
 * POST /webhooks/postmark: Postmark's Delivery, Bounce and SpamComplaint webhooks, authenticated
 * with HTTP basic auth (Postmark puts `user:password@` of the webhook URL there). The credentials
 * are the `POSTMARK_WEBHOOK_CREDENTIALS` secret, `user:password`. The note id comes from the
 * message's `Metadata.note_id`, set at send time. Payloads:
 * https://postmarkapp.com/developer/webhooks/delivery-webhook, …/bounce-webhook, …/spam-complaint-webhook
 */

import { isNoteUuid } from "@notepipe/frame";
import type { Context } from "hono";
import * as z from "zod/mini";
import { parseJson, readText } from "../http/body.ts";
import { HttpError } from "../http/errors.ts";
import { cachedDigests, matchesAnySecret } from "../http/secret-compare.ts";
import type { WebhooksEnv } from "./app.ts";
import { applyDeliveryEvent, bouncedSentence, COMPLAINED_SENTENCE, type DeliveryEvent } from "./apply-event.ts";
import { MAX_WEBHOOK_BYTES } from "./resend.ts";

/**
 * Bounce types after which the email will not arrive (https://postmarkapp.com/developer/api/bounce-api#bounce-types).
 * Postmark also reports soft and transient bounces, auto-replies and the like on this webhook:
 * those are logged, and the note stays `sent` (or `delivered`).
 */
const PERMANENT_BOUNCES = new Set(["HardBounce", "BadEmailAddress", "ManuallyDeactivated", "Blocked", "DMARCPolicy"]);

const postmarkEvent = z.looseObject({
  RecordType: z.string(),
  ID: z.optional(z.union([z.number(), z.string()])),
  MessageID: z.optional(z.string()),
  Type: z.optional(z.string()),
  Inactive: z.optional(z.boolean()),
  Description: z.optional(z.string()),
  Metadata: z.nullish(z.record(z.string(), z.unknown())),
});

const credentialDigests = cachedDigests();

async function checkBasicAuth(c: Context<WebhooksEnv>): Promise<void> {
  const secret: string | undefined = c.env.POSTMARK_WEBHOOK_CREDENTIALS;
  if (secret === undefined || !/^[^:]+:.+$/.test(secret)) {
    console.error("deliver: POSTMARK_WEBHOOK_CREDENTIALS is unset or not user:password; Postmark webhooks get 503.");
    throw new HttpError("not_configured", { message: "POSTMARK_WEBHOOK_CREDENTIALS is not set to user:password." });
  }
  const refused = (message: string) =>
    new HttpError("unauthorized", { message, headers: { "www-authenticate": 'Basic realm="notepipe-webhooks"' } });
  const authorization = c.req.header("authorization") ?? "";
  if (authorization.slice(0, 6).toLowerCase() !== "basic ") throw refused("Send HTTP basic auth.");
  let presented: string;
  try {
    presented = new TextDecoder().decode(Uint8Array.fromBase64(authorization.slice(6).trim()));
  } catch {
    throw refused("The basic auth credentials are not base64.");
  }
  if (!(await matchesAnySecret(presented, await credentialDigests(secret, [secret])))) {
    throw refused("These credentials are not valid.");
  }
}

export async function postmarkWebhook(c: Context<WebhooksEnv>): Promise<Response> {
  await checkBasicAuth(c);
  const event = parseJson(await readText(c, MAX_WEBHOOK_BYTES), postmarkEvent);
  const eventId = `postmark-${event.RecordType}-${event.ID ?? event.MessageID ?? ""}`;

  let change: Pick<DeliveryEvent, "state" | "error"> | undefined;
  if (event.RecordType === "Delivery") change = { state: "delivered" };
  else if (event.RecordType === "SpamComplaint") change = { state: "complained", error: COMPLAINED_SENTENCE };
  else if (event.RecordType === "Bounce" && (PERMANENT_BOUNCES.has(event.Type ?? "") || event.Inactive === true)) {
    change = { state: "bounced", error: bouncedSentence(event.Description) };
  }
  if (change === undefined) {
    console.log(
      `deliver: Postmark ${event.RecordType} ${event.Type ?? ""} (${eventId}) acknowledged, nothing to record`,
    );
    return c.json({ received: true, outcome: "ignored" });
  }
  const noteId = event.Metadata?.note_id;
  if (typeof noteId !== "string" || !isNoteUuid(noteId)) {
    console.log(`deliver: Postmark ${event.RecordType} (${eventId}) carries no note id; acknowledged`);
    return c.json({ received: true, outcome: "ignored" });
  }
  const outcome = await applyDeliveryEvent(c.env, { noteId, eventId, ...change });
  return c.json({ received: true, outcome });
}
