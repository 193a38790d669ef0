/**
 * The `codes` queue's consumer: enrollment-code emails (packages/pipeline `CodeMessage`), apart from
 * the notes, so that a code's failure, retry or slow answer never holds a note's batch. One provider
 * request per message, so that the message's own id is the request's idempotency key: Resend sends
 * a redelivered message once (24 hours of keys); Postmark has no keys, and an unanswered request
 * retried may send the same code twice, which costs the reader an email, never a wrong code. No
 * ledger and no status record: a code is not a note, and a lost one is replaced by asking again.
 *
 *   accepted                  ack
 *   transient failure         retry with the notes' backoff (backoff.ts), Retry-After honoured
 *   pipeline failure          retry after PIPELINE_RETRY_SECONDS, loudly
 *   permanent failure         ack, one log line
 *   past its code's expiry    ack, one log line: ingest refuses the code by now (`expiresAt`)
 *   next try past the expiry  ack, one log line: a retry could only send a dead code
 *
 * Subrequests: one fetch per code and nothing else (no KV, no Durable Object), and at most
 * {@link CODES_PER_INVOCATION} codes are sent per invocation, so that no batch, whatever
 * `max_batch_size` says, nears the Free plan's 50 subrequests per invocation
 * (https://developers.cloudflare.com/workers/platform/limits/).
 *
 * Log lines name the queue message id and the failure's code only: never the address or the code.
 */

import { isValidRecipient } from "@notepipe/frame";
import { type CodeMessage, isCodeMessage } from "@notepipe/pipeline";
import { type DeliverConfig, readConfig } from "../config.ts";
import { postBatch } from "../providers/provider.ts";
import { pipelineDelaySeconds, retryDelaySeconds } from "./backoff.ts";
import { classOf, failed, type SendOutcome } from "./outcomes.ts";

/** With the config unreadable nothing can be sent; the wait is short because the code ages. */
const CONFIG_RETRY_SECONDS = 300;
const CODE_PLACEHOLDER = "{code}";
/**
 * The codes one invocation sends, one fetch each: the `codes` consumer's `max_batch_size`
 * (wrangler.deliver.toml), 10 of the Free plan's 50 subrequests. A larger batch (a changed
 * setting) sends this many and puts the rest back on the queue at once.
 */
export const CODES_PER_INVOCATION = 10;
/** A code message beyond {@link CODES_PER_INVOCATION} goes back for the next invocation. */
const NEXT_INVOCATION_SECONDS = 1;

/** Sends each code email of a batch, one request at a time; acks or retries each message. Never throws. */
export async function sendCodeEmails(messages: readonly Message<unknown>[], env: Env): Promise<void> {
  if (messages.length === 0) return;
  const read = readConfig(env);
  if (!read.ok || !env.CODE_TEXT.includes(CODE_PLACEHOLDER)) {
    const problem = read.ok ? `CODE_TEXT has no ${CODE_PLACEHOLDER}.` : read.problem;
    console.error(`deliver: PIPELINE FAILURE config_invalid: ${problem} ${messages.length} code email(s) wait.`);
    for (const message of messages) message.retry({ delaySeconds: CONFIG_RETRY_SECONDS });
    return;
  }
  for (const message of messages.slice(CODES_PER_INVOCATION)) message.retry({ delaySeconds: NEXT_INVOCATION_SECONDS });
  for (const message of messages.slice(0, CODES_PER_INVOCATION)) await sendOne(message, read.config, env);
}

/**
 * Code emails that arrived on a notes queue (queued there by an ingest deployed before `codes`
 * existed) move to `codes`, in one send, so that no note's batch sends them. Never throws: if the
 * move fails they are retried where they are.
 */
export async function moveToCodesQueue(messages: readonly Message<unknown>[], env: Env): Promise<void> {
  if (messages.length === 0) return;
  try {
    await env.CODES_QUEUE.sendBatch(messages.map((message) => ({ body: message.body, contentType: "json" })));
  } catch (error) {
    const delaySeconds = CONFIG_RETRY_SECONDS;
    console.error(
      `deliver: ${messages.length} code email(s) could not move to the codes queue (${error instanceof Error ? error.name : typeof error}); retried in ${delaySeconds} s`,
    );
    for (const message of messages) message.retry({ delaySeconds });
    return;
  }
  for (const message of messages) message.ack();
}

async function sendOne(message: Message<unknown>, config: DeliverConfig, env: Env): Promise<void> {
  const body = message.body;
  if (!isWellFormed(body)) {
    console.error(`deliver: code email ${message.id} dropped: the message is not a well-formed CodeMessage`);
    message.ack();
    return;
  }
  if (Date.now() >= body.expiresAt) {
    console.error(`deliver: code email ${message.id} dropped: its code expired before it could be sent`);
    message.ack();
    return;
  }

  const outcome = await post(config, emailBatchJson(config, env, body), `code-${message.id}`);
  if (outcome.kind === "accepted") {
    message.ack();
    return;
  }
  const retryAfter = outcome.retryAfterSeconds ?? null;
  switch (classOf(outcome.code)) {
    case "transient":
      retryUnlessExpired(message, body, retryDelaySeconds(message.attempts, config.retry, retryAfter), outcome.code);
      return;
    case "pipeline": {
      const delaySeconds = pipelineDelaySeconds(config.retry, retryAfter);
      console.error(`deliver: PIPELINE FAILURE ${outcome.code}: code email ${message.id} not sent`);
      retryUnlessExpired(message, body, delaySeconds, outcome.code);
      return;
    }
    case "permanent":
      console.error(`deliver: code email ${message.id} dropped: ${outcome.code}`);
      message.ack();
  }
}

/** Retries after `delaySeconds`, unless the code is dead by then: a retry could only send a refused code. */
function retryUnlessExpired(message: Message<unknown>, body: CodeMessage, delaySeconds: number, code: string): void {
  if (Date.now() + delaySeconds * 1000 >= body.expiresAt) {
    console.error(`deliver: code email ${message.id} dropped: ${code}, and its code expires before a retry`);
    message.ack();
    return;
  }
  message.retry({ delaySeconds });
}

function isWellFormed(body: unknown): body is CodeMessage {
  return (
    isCodeMessage(body) &&
    typeof body.to === "string" &&
    // The address goes into the JSON by template: the recipient rule is what makes that safe.
    isValidRecipient(body.to) &&
    typeof body.code === "string" &&
    // What ingest makes: 8 characters of Crockford's base32 (CODE_PATTERN, packages/token).
    /^[0-9A-HJKMNP-TV-Z]{8}$/.test(body.code) &&
    typeof body.expiresAt === "number"
  );
}

/** A batch of one, in the provider's batch shape (the endpoint MailProvider.path names). */
function emailBatchJson(config: DeliverConfig, env: Env, message: CodeMessage): string {
  const from = config.send.fromJson;
  const subject = JSON.stringify(env.CODE_SUBJECT);
  const text = JSON.stringify(env.CODE_TEXT.replaceAll(CODE_PLACEHOLDER, message.code));
  if (config.provider.name === "postmark") {
    return `[{"From":${from},"To":"${message.to}","Subject":${subject},"TextBody":${text},"Tag":"enrollment_code"}]`;
  }
  return `[{"from":${from},"to":["${message.to}"],"subject":${subject},"text":${text},"tags":[{"name":"kind","value":"enrollment_code"}]}]`;
}

async function post(config: DeliverConfig, body: string, requestKey: string): Promise<SendOutcome> {
  const [outcome] = await postBatch(config.provider, config.send, body, requestKey, 1);
  return outcome ?? failed("unexpected_response", "No outcome for the email.");
}
