/**
 * POST /webhooks/resend: Resend's email events, Svix-signed with the `RESEND_WEBHOOK_SECRET`
 * (`whsec_…`). `email.delivered`, `email.bounced` and `email.complained` move the note whose id
 * the email carries (tag `note_id`, else header `X-Notepipe-Note-Id`, both set at send time);
 * every other event is logged and acknowledged. Payloads: https://resend.com/docs/dashboard/webhooks/event-types
 */

import { isNoteUuid } from "@notepipe/frame";
import type { Context } from "hono";
import * as z from "zod/mini";
import { parseJson, readText } from "../http/body.ts";
import { HttpError } from "../http/errors.ts";
import type { WebhooksEnv } from "./app.ts";
import { applyDeliveryEvent, bouncedSentence, COMPLAINED_SENTENCE, type DeliveryState } from "./apply-event.ts";
import { readSvixHeaders, type SvixProblem, svixKey, verifySvixClaim } from "./svix-signature.ts";

/** Resend's events are a few KB; this bounds what is read before the signature is checked. */
export const MAX_WEBHOOK_BYTES = 256 * 1024;

const STATES: Record<string, DeliveryState> = {
  "email.delivered": "delivered",
  "email.bounced": "bounced",
  "email.complained": "complained",
};

const NOTE_ID = "note_id";
const NOTE_ID_HEADER = "x-notepipe-note-id";

/**
 * Loose: a provider adds fields over time, and a signed event is never refused for one. `tags` and
 * `headers` are left to {@link namedValue}: they are the bulk of a large event (a 256 KB one holds
 * thousands of headers), zod's walk over every entry was a third of the webhook's JavaScript time
 * (`node bench/deliver-profile.ts --http webhook`), and one entry of them matters.
 */
const resendEvent = z.looseObject({
  type: z.string(),
  created_at: z.optional(z.string()),
  data: z.optional(
    z.looseObject({
      email_id: z.optional(z.string()),
      tags: z.optional(z.unknown()),
      headers: z.optional(z.unknown()),
      bounce: z.optional(z.looseObject({ message: z.optional(z.string()) })),
    }),
  ),
});

/**
 * The string value named `name` (lowercase) among tags or headers, which arrive as an object
 * (`{"note_id": "…"}`) or as the send API's `[{name, value}]`; the first entry of that name decides.
 * Entries of another shape are passed over, as are other names.
 */
function namedValue(values: unknown, name: string): string | undefined {
  let value: unknown;
  if (Array.isArray(values)) {
    for (const entry of values) {
      const entryName = typeof entry === "object" && entry !== null ? (entry as { name?: unknown }).name : undefined;
      if (typeof entryName === "string" && entryName.toLowerCase() === name) {
        value = (entry as { value?: unknown }).value;
        break;
      }
    }
  } else if (typeof values === "object" && values !== null) {
    const key = Object.keys(values).find((candidate) => candidate.toLowerCase() === name);
    value = key === undefined ? undefined : (values as Record<string, unknown>)[key];
  }
  return typeof value === "string" ? value : undefined;
}

function svixRefusal(problem: SvixProblem): HttpError {
  if (problem === "missing_headers") {
    return new HttpError("bad_signature", { message: "Send svix-id, svix-timestamp and svix-signature." });
  }
  return new HttpError(problem);
}

export async function resendWebhook(c: Context<WebhooksEnv>): Promise<Response> {
  const key = svixKey(c.env.RESEND_WEBHOOK_SECRET);
  if (key === null) {
    console.error("deliver: RESEND_WEBHOOK_SECRET is unset or not whsec_<base64>; Resend webhooks get 503.");
    throw new HttpError("not_configured", { message: "RESEND_WEBHOOK_SECRET is not set to a whsec_ secret." });
  }
  // The headers first, then the body, then one HMAC: a refused header costs neither.
  const read = readSvixHeaders(
    {
      id: c.req.header("svix-id"),
      timestamp: c.req.header("svix-timestamp"),
      signature: c.req.header("svix-signature"),
    },
    Date.now(),
  );
  if (!read.ok) throw svixRefusal(read.problem);
  const body = await readText(c, MAX_WEBHOOK_BYTES);
  const verdict = await verifySvixClaim(await key, read.claim, body);
  if (!verdict.ok) throw svixRefusal(verdict.problem);

  const event = parseJson(body, resendEvent);
  const state = STATES[event.type];
  if (state === undefined) {
    console.log(`deliver: Resend event ${event.type} (${verdict.id}) acknowledged, nothing to record`);
    return c.json({ received: true, outcome: "ignored" });
  }
  const noteId = namedValue(event.data?.tags, NOTE_ID) ?? namedValue(event.data?.headers, NOTE_ID_HEADER);
  if (noteId === undefined || !isNoteUuid(noteId)) {
    // Not an email notepipe sent (or its tags were lost): retrying would not change that.
    console.log(`deliver: Resend ${event.type} (${verdict.id}) carries no note id; acknowledged`);
    return c.json({ received: true, outcome: "ignored" });
  }
  const error =
    state === "bounced"
      ? bouncedSentence(event.data?.bounce?.message)
      : state === "complained"
        ? COMPLAINED_SENTENCE
        : undefined;
  const outcome = await applyDeliveryEvent(c.env, {
    noteId,
    state,
    eventId: verdict.id,
    ...(error === undefined ? {} : { error }),
  });
  return c.json({ received: true, outcome });
}
