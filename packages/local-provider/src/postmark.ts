/**
 * Postmark's batch endpoint, `POST /email/batch` with up to 500 messages
 * (https://postmarkapp.com/developer/api/email-api#send-batch-emails): it answers 200 with one
 * entry per message in request order, `ErrorCode` 0 for a message it took. A bad request as a
 * whole is a 422 with an `ErrorCode`; its 429 carries no Retry-After. Postmark has no
 * idempotency keys.
 */

import { Hono } from "hono";
import { ProviderError } from "./errors.ts";
import { type InboxEmail, noteIdOf } from "./inbox.ts";
import { POSTMARK_ERROR_CODES, POSTMARK_LIMITS } from "./postmark-contract.ts";
import { mailboxAddress, refusalReason } from "./recipients.ts";
import { countSend, processSend, readJson, type SendResult, sendGuard } from "./send-pipeline.ts";
import type { ProviderEnv, ProviderState } from "./state.ts";

export const POSTMARK_MAX_BATCH = POSTMARK_LIMITS.messagesPerBatch;
/** Postmark's code for a recipient it will not send to (hard bounce, complaint, suppression). */
const INACTIVE_RECIPIENT = POSTMARK_ERROR_CODES.inactiveRecipient;
const INVALID_EMAIL_REQUEST = POSTMARK_ERROR_CODES.invalidEmailRequest;
const encoder = new TextEncoder();

type MessageResult =
  | { ErrorCode: 0; Message: "OK"; MessageID: string; SubmittedAt: string; To: string }
  | { ErrorCode: number; Message: string; To?: string };

type Checked = { ok: true; email: Omit<InboxEmail, "id" | "receivedAt" | "idempotencyKey"> } | MessageResult;

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function invalid(message: string, to?: unknown): MessageResult {
  return typeof to === "string"
    ? { ErrorCode: INVALID_EMAIL_REQUEST, Message: message, To: to }
    : { ErrorCode: INVALID_EMAIL_REQUEST, Message: message };
}

/** Checks one message as Postmark does, and puts it in the inbox's shape. */
export function checkPostmarkMessage(input: unknown): Checked {
  if (!isRecord(input)) return invalid("Each message must be a JSON object.");
  const { From, To, Cc, Bcc, Subject, TextBody, HtmlBody, Headers, Metadata, Tag } = input;
  if (typeof From !== "string" || mailboxAddress(From) === null) {
    return invalid("The 'From' address is missing or is not a valid address.", To);
  }
  if (typeof To !== "string" || To.trim() === "") return invalid("Provide a 'To' address.", To);
  const mailboxes = To.split(",");
  const copies = [Cc, Bcc].reduce<number>(
    (count, field) => count + (typeof field === "string" ? field.split(",").length : 0),
    0,
  );
  if (mailboxes.length + copies > POSTMARK_LIMITS.recipientsPerMessage) {
    return invalid(`Maximum of ${POSTMARK_LIMITS.recipientsPerMessage} recipients allowed per email message.`, To);
  }
  const recipients: string[] = [];
  for (const mailbox of mailboxes) {
    const address = mailboxAddress(mailbox);
    if (address === null) return invalid(`Error parsing 'To': Illegal email address '${mailbox.trim()}'.`, To);
    const refused = refusalReason(address);
    if (refused !== null) return { ErrorCode: INACTIVE_RECIPIENT, Message: refused, To };
    recipients.push(address);
  }
  if (Subject !== undefined && typeof Subject !== "string") return invalid("'Subject' must be a string.", To);
  if (typeof TextBody !== "string" && typeof HtmlBody !== "string") {
    return invalid("Provide either email TextBody or HtmlBody or both.", To);
  }
  for (const [name, body] of [
    ["TextBody", TextBody],
    ["HtmlBody", HtmlBody],
  ] as const) {
    if (typeof body === "string" && encoder.encode(body).byteLength > POSTMARK_LIMITS.bodyBytes) {
      return invalid(`'${name}' is over ${POSTMARK_LIMITS.bodyBytes} bytes.`, To);
    }
  }
  if (encoder.encode(JSON.stringify(input)).byteLength > POSTMARK_LIMITS.messageBytes) {
    return invalid(`The message is over ${POSTMARK_LIMITS.messageBytes} bytes.`, To);
  }
  if (Tag !== undefined && (typeof Tag !== "string" || Tag.length > POSTMARK_LIMITS.tagChars)) {
    return invalid(`'Tag' must be a string of at most ${POSTMARK_LIMITS.tagChars} characters.`, To);
  }
  const headers: Record<string, string> = {};
  if (Headers !== undefined) {
    if (!Array.isArray(Headers)) return invalid("'Headers' must be an array of {Name, Value}.", To);
    for (const header of Headers) {
      if (!isRecord(header) || typeof header.Name !== "string" || typeof header.Value !== "string") {
        return invalid("'Headers' must be an array of {Name, Value}.", To);
      }
      headers[header.Name] = header.Value;
    }
  }
  const metadata: Record<string, string> = {};
  if (Metadata !== undefined) {
    if (!isRecord(Metadata)) return invalid("'Metadata' must be an object of strings.", To);
    for (const [name, value] of Object.entries(Metadata)) {
      if (typeof value !== "string") return invalid("'Metadata' must be an object of strings.", To);
      metadata[name] = value;
    }
  }
  return {
    ok: true,
    email: {
      provider: "postmark",
      from: From,
      to: recipients,
      subject: typeof Subject === "string" ? Subject : "",
      text: typeof TextBody === "string" ? TextBody : null,
      html: typeof HtmlBody === "string" ? HtmlBody : null,
      headers,
      tags: [],
      metadata,
      noteId: noteIdOf([], metadata, headers),
    },
  };
}

export function postmarkApi(state: ProviderState): Hono<ProviderEnv> {
  const api = new Hono<ProviderEnv>();

  api.post("/email/batch", countSend(state, "postmark"), sendGuard(state, "postmark"), async (c) => {
    const { raw, value } = await readJson(c);
    if (encoder.encode(raw).byteLength > POSTMARK_LIMITS.batchBytes) throw new ProviderError("payload_too_large");
    return processSend(c, state, undefined, ["POST /email/batch", raw], (): SendResult => {
      if (!Array.isArray(value)) {
        throw new ProviderError(
          "incompatible_json",
          "Invalid request field(s): the body must be a JSON array of messages.",
        );
      }
      if (value.length === 0) {
        throw new ProviderError("validation_error", "The request body must be a non-empty JSON array of messages.");
      }
      if (value.length > POSTMARK_MAX_BATCH) {
        throw new ProviderError(
          "too_many_emails",
          `A batch holds at most ${POSTMARK_MAX_BATCH} messages; this one has ${value.length}.`,
        );
      }
      const results = value.map((message): MessageResult => {
        const checked = checkPostmarkMessage(message);
        if (!("ok" in checked)) return checked;
        const id = crypto.randomUUID();
        const submittedAt = new Date(state.now()).toISOString();
        state.inbox.add({ id, ...checked.email, idempotencyKey: null, receivedAt: submittedAt });
        return {
          ErrorCode: 0,
          Message: "OK",
          MessageID: id,
          SubmittedAt: submittedAt,
          To: (message as { To: string }).To,
        };
      });
      return { status: 200, body: results };
    });
  });

  return api;
}
