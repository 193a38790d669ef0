/**
 * The Cron's alerts: asks the ledger what is due (ledger/alerts.ts decides), posts it to the
 * `OPS_ALERT_WEBHOOK_URL` secret and, when `OPS_ALERT_TO` is set, emails it through the mail
 * provider, then tells the ledger it went out. One message per run, whatever it holds, so a run
 * makes at most 4 subrequests of its own (2 ledger calls, the POST, the email) of the invocation's
 * 50 (https://developers.cloudflare.com/workers/platform/limits/#subrequests).
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

/** Sends what is due; answers how many notices went out. Never throws: the next run tries again. */
export async function sendAlerts(env: Env): Promise<number> {
  const webhook = ((env as { OPS_ALERT_WEBHOOK_URL?: string }).OPS_ALERT_WEBHOOK_URL ?? "").trim();
  const to = env.OPS_ALERT_TO.trim();
  if (webhook === "" && to === "") return 0;
  try {
    const { notices, at } = await callLedger(env, (ledger) => ledger.dueAlerts());
    if (notices.length === 0) return 0;
    const text = alertText(notices);
    const [posted, emailed] = await Promise.all([
      webhook === "" ? false : postWebhook(webhook, text),
      to === "" ? false : emailAlert(env, to, text),
    ]);
    // Held back, they go again once their lease ends (a minute): an email may then go twice.
    if (!posted && !emailed) return 0;
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
