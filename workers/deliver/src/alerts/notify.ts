/**
 * Sending alerts: what is due (ledger/alerts.ts decides) is posted to the `OPS_ALERT_WEBHOOK_URL`
 * secret and, when `OPS_ALERT_TO` is set, emailed through the mail provider, then confirmed to the
 * ledger. The ledger's alarm sends with {@link sendNotices} from inside the object; the Cron, a
 * backstop, with {@link sendAlerts} through two ledger calls. One message per run, whatever it
 * holds, so a run makes at most 4 subrequests of its own (2 ledger calls, the POST, the email) of
 * the invocation's 50 (https://developers.cloudflare.com/workers/platform/limits/#subrequests).
 */

import { isValidRecipient } from "@notepipe/frame";
import { readConfig } from "../config.ts";
import type { AlertNotice } from "../ledger/alerts.ts";
import { callLedger } from "../ledger/client.ts";
import { postBatch } from "../providers/provider.ts";

/**
 * Both Slack and Discord take a JSON POST: Slack reads `text`
 * (https://api.slack.com/messaging/webhooks), Discord reads `content`, at most 2,000 characters
 * (https://discord.com/developers/docs/resources/webhook#execute-webhook); each ignores the other's
 * field, so one body fits either and the URL's host needs no reading.
 */
const MAX_TEXT_CHARS = 2_000;
/** A chat webhook answers in well under a second; a hung one must not hold the Cron's invocation. */
const WEBHOOK_TIMEOUT_MS = 10_000;
const WHO = "deliver (alerts)";

/** Whether alerts have somewhere to go: without a channel, nothing is handed out or scheduled. */
export function hasAlertChannel(env: Env): boolean {
  return settingOf(env, "OPS_ALERT_WEBHOOK_URL") !== "" || settingOf(env, "OPS_ALERT_TO") !== "";
}

/**
 * An alert setting, "" when unset: the webhook is an optional secret, and the ledger that asks is
 * also run with an env of its own by the ledger soak, which sets neither.
 */
function settingOf(env: Env, name: "OPS_ALERT_WEBHOOK_URL" | "OPS_ALERT_TO"): string {
  const value = (env as unknown as Partial<Record<typeof name, unknown>>)[name];
  return typeof value === "string" ? value.trim() : "";
}

/**
 * Posts and emails `notices` as one message; answers whether either channel took it. Never throws.
 * Only then may the caller confirm them; otherwise they go again once their lease ends (a minute),
 * and a channel that took them the first time gets them twice.
 */
export async function sendNotices(env: Env, notices: readonly AlertNotice[]): Promise<boolean> {
  const webhook = settingOf(env, "OPS_ALERT_WEBHOOK_URL");
  const to = settingOf(env, "OPS_ALERT_TO");
  const text = alertText(notices);
  const [posted, emailed] = await Promise.all([
    webhook === "" ? false : postWebhook(webhook, text),
    to === "" ? false : emailAlert(env, to, text).catch(() => false),
  ]);
  return posted || emailed;
}

/** The Cron's run: sends what is due; answers how many notices went out. Never throws: the next run tries again. */
export async function sendAlerts(env: Env): Promise<number> {
  if (!hasAlertChannel(env)) return 0;
  try {
    const { notices, at } = await callLedger(env, (ledger) => ledger.dueAlerts());
    if (notices.length === 0) return 0;
    if (!(await sendNotices(env, notices))) return 0;
    await callLedger(env, (ledger) => ledger.confirmAlerts(notices, at));
    return notices.length;
  } catch (error) {
    console.error(`${WHO}: not sent (${error instanceof Error ? error.name : typeof error}); the next run tries again`);
    return 0;
  }
}

/** One line per notice: what fired or cleared, and why. */
export function alertText(notices: readonly AlertNotice[]): string {
  const text = notices
    .map((notice) => `notepipe ${notice.type === "alert" ? "ALERT" : "recovered"} (${notice.kind}): ${notice.message}`)
    .join("\n");
  return text.length > MAX_TEXT_CHARS ? `${text.slice(0, MAX_TEXT_CHARS - 1)}…` : text;
}

async function postWebhook(url: string, text: string): Promise<boolean> {
  try {
    const response = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ text, content: text }),
      redirect: "manual",
      signal: AbortSignal.timeout(WEBHOOK_TIMEOUT_MS),
    });
    await response.body?.cancel();
    if (response.ok) return true;
    // The URL is a secret (it is the webhook's credential): never logged.
    console.error(`${WHO}: the webhook answered ${response.status}`);
  } catch (error) {
    console.error(`${WHO}: the webhook could not be reached (${error instanceof Error ? error.name : typeof error})`);
  }
  return false;
}

/** An email to `to` through the first provider: of no use when the provider is what failed. */
async function emailAlert(env: Env, to: string, text: string): Promise<boolean> {
  const read = readConfig(env);
  if (!read.ok || !isValidRecipient(to)) {
    console.error(`${WHO}: no email: ${read.ok ? "OPS_ALERT_TO is not a valid address" : read.problem}`);
    return false;
  }
  const { provider, send } = read.config;
  const from = JSON.parse(send.fromJson) as string;
  const subject = `notepipe: ${text.split("\n", 1)[0]?.slice(0, 150)}`;
  const email =
    provider.name === "postmark"
      ? { From: from, To: to, Subject: subject, TextBody: text, Tag: "ops_alert" }
      : { from, to: [to], subject, text, tags: [{ name: "kind", value: "ops_alert" }] };
  const [outcome] = await postBatch(provider, send, JSON.stringify([email]), `alert-${crypto.randomUUID()}`, 1);
  if (outcome?.kind === "accepted") return true;
  console.error(`${WHO}: the alert email was not sent (${outcome?.code ?? "no outcome"})`);
  return false;
}
