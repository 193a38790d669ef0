/**
 * Resend's send endpoints: `POST /emails` (https://resend.com/docs/api-reference/emails/send-email)
 * and `POST /emails/batch` with up to 100 emails and `x-batch-validation: strict | permissive`
 * (https://resend.com/docs/dashboard/emails/batch-validation-modes). Strict, the default, refuses
 * the whole batch for one invalid email; permissive sends the valid ones and answers
 * `{data: [{id}] (the created emails, in request order), errors: [{index, message}]}`.
 */

import { Hono } from "hono";
import { type ErrorCode, ProviderError } from "./errors.ts";
import { type InboxEmail, noteIdOf } from "./inbox.ts";
import { mailboxAddress, refusalReason } from "./recipients.ts";
import { RESEND_BATCH_UNSUPPORTED_FIELDS, RESEND_LIMITS } from "./resend-contract.ts";
import { countSend, processSend, readJson, type SendResult, sendGuard } from "./send-pipeline.ts";
import type { ProviderEnv, ProviderState } from "./state.ts";

export const RESEND_MAX_BATCH = RESEND_LIMITS.emailsPerBatch;
const MAX_RECIPIENTS = RESEND_LIMITS.recipientsPerEmail;
/** Tag names and values: ASCII letters, digits, `_` and `-` (resend-contract.ts, `tags`). */
const TAG_PART = new RegExp(`^[A-Za-z0-9_-]{1,${RESEND_LIMITS.tagPartChars}}$`);
const REQUIRED_FIELDS = ["from", "to", "subject"] as const;

type Checked = { ok: true; email: Omit<InboxEmail, "id" | "receivedAt" | "idempotencyKey"> } | CheckFailure;
type CheckFailure = { ok: false; code: ErrorCode; message: string };

function fail(code: ErrorCode, message: string): CheckFailure {
  return { ok: false, code, message };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function stringRecord(value: unknown): Record<string, string> | null {
  if (!isRecord(value)) return null;
  for (const entry of Object.values(value)) if (typeof entry !== "string") return null;
  return value as Record<string, string>;
}

/** Checks one email as Resend does, and puts it in the inbox's shape. */
export function checkResendEmail(input: unknown): Checked {
  if (!isRecord(input)) return fail("validation_error", "Each email must be a JSON object.");
  for (const field of REQUIRED_FIELDS) {
    if (input[field] === undefined) return fail("missing_required_field", `The \`${field}\` field is missing.`);
  }
  const { from, to, subject, text, html, headers, tags } = input;
  if (typeof from !== "string" || mailboxAddress(from) === null) {
    return fail(
      "validation_error",
      "Invalid `from` field. The email address needs to follow the `email@example.com` or `Name <email@example.com>` format.",
    );
  }
  const toList = typeof to === "string" ? [to] : to;
  if (!Array.isArray(toList) || toList.length === 0 || toList.length > MAX_RECIPIENTS) {
    return fail("validation_error", `Invalid \`to\` field. Give 1 to ${MAX_RECIPIENTS} addresses.`);
  }
  const recipients: string[] = [];
  for (const mailbox of toList) {
    const address = typeof mailbox === "string" ? mailboxAddress(mailbox) : null;
    if (address === null) {
      return fail(
        "validation_error",
        "Invalid `to` field. The email address needs to follow the `email@example.com` or `Name <email@example.com>` format.",
      );
    }
    const refused = refusalReason(address);
    if (refused !== null) return fail("validation_error", refused);
    recipients.push(address);
  }
  if (typeof subject !== "string") return fail("validation_error", "Invalid `subject` field. It must be a string.");
  if (text !== undefined && typeof text !== "string") return fail("validation_error", "Invalid `text` field.");
  if (html !== undefined && typeof html !== "string") return fail("validation_error", "Invalid `html` field.");
  if (text === undefined && html === undefined) {
    return fail("missing_required_field", "The `text` or `html` field is missing.");
  }
  const headerRecord = headers === undefined ? {} : stringRecord(headers);
  if (headerRecord === null) return fail("validation_error", "Invalid `headers` field. It must map names to strings.");
  const tagList = tags === undefined ? [] : tags;
  if (
    !Array.isArray(tagList) ||
    !tagList.every((tag) => isRecord(tag) && TAG_PART.test(String(tag.name)) && TAG_PART.test(String(tag.value)))
  ) {
    return fail(
      "validation_error",
      "Invalid `tags` field. Tag names and values may only contain ASCII letters, numbers, underscores or dashes.",
    );
  }
  const cleanTags = (tagList as { name: unknown; value: unknown }[]).map((tag) => ({
    name: String(tag.name),
    value: String(tag.value),
  }));
  return {
    ok: true,
    email: {
      provider: "resend",
      from,
      to: recipients,
      subject,
      text: text ?? null,
      html: html ?? null,
      headers: headerRecord,
      tags: cleanTags,
      metadata: {},
      noteId: noteIdOf(cleanTags, {}, headerRecord),
    },
  };
}

/** An email of a batch: as {@link checkResendEmail}, less the fields a batch does not take. */
function checkBatchEmail(input: unknown): Checked {
  const unsupported = isRecord(input) ? RESEND_BATCH_UNSUPPORTED_FIELDS.find((field) => field in input) : undefined;
  if (unsupported !== undefined) {
    return fail("validation_error", `The \`${unsupported}\` field is not supported in a batch.`);
  }
  return checkResendEmail(input);
}

export function resendApi(state: ProviderState): Hono<ProviderEnv> {
  const api = new Hono<ProviderEnv>();

  function accept(email: Omit<InboxEmail, "id" | "receivedAt" | "idempotencyKey">, key: string | undefined): string {
    const id = crypto.randomUUID();
    state.inbox.add({
      id,
      ...email,
      idempotencyKey: key ?? null,
      receivedAt: new Date(state.now()).toISOString(),
    });
    return id;
  }

  api.post("/emails", countSend(state, "resend"), sendGuard(state, "resend"), async (c) => {
    const { raw, value } = await readJson(c);
    const key = c.req.header("idempotency-key");
    return processSend(c, state, key, ["POST /emails", raw], (): SendResult => {
      const checked = checkResendEmail(value);
      if (!checked.ok) throw new ProviderError(checked.code, checked.message);
      return { status: 200, body: { id: accept(checked.email, key) } };
    });
  });

  api.post("/emails/batch", countSend(state, "resend"), sendGuard(state, "resend"), async (c) => {
    const mode = c.req.header("x-batch-validation") ?? "strict";
    if (mode !== "strict" && mode !== "permissive") {
      throw new ProviderError("validation_error", "The `x-batch-validation` header must be `strict` or `permissive`.");
    }
    const { raw, value } = await readJson(c);
    const key = c.req.header("idempotency-key");
    return processSend(c, state, key, ["POST /emails/batch", mode, raw], (): SendResult => {
      if (!Array.isArray(value) || value.length === 0) {
        throw new ProviderError("validation_error", "The request body must be a non-empty array of emails.");
      }
      if (value.length > RESEND_MAX_BATCH) {
        throw new ProviderError(
          "too_many_emails",
          `A batch holds at most ${RESEND_MAX_BATCH} emails; this one has ${value.length}.`,
        );
      }
      const checked = value.map(checkBatchEmail);
      if (mode === "strict") {
        const index = checked.findIndex((result) => !result.ok);
        const failure = checked[index];
        if (failure !== undefined && !failure.ok) {
          throw new ProviderError(failure.code, `emails[${index}]: ${failure.message}`);
        }
      }
      const data: { id: string }[] = [];
      const errors: { index: number; message: string }[] = [];
      checked.forEach((result, index) => {
        if (result.ok) data.push({ id: accept(result.email, key) });
        else errors.push({ index, message: result.message });
      });
      return { status: 200, body: mode === "permissive" ? { data, errors } : { data } };
    });
  });

  return api;
}
