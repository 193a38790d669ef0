/**
 * The deployment's daily budget of code emails, and the one module that touches it: one
 * SQLite-backed Durable Object under a fixed name ({@link BUDGET_NAME}), so that every ingest isolate
 * counts in the same place, strongly consistent, one request at a time. `CODE_EMAILS_PER_DAY`
 * (wrangler.ingest.toml) caps the code emails queued per UTC day, so that codes can never spend the
 * provider's daily quota that notes need (Resend Free: 100 emails a day,
 * https://resend.com/docs/knowledge-base/account-quotas-and-limits).
 *
 * A code request takes one email from the budget before its code is stored and queued, and gives
 * it back if the code could not be issued or queued (post-token-code.ts). {@link CodeEmailBudget.take}
 * checks and counts in one synchronous transaction: two requests at the cap's last email cannot
 * both get it. An invocation killed between taking and queueing leaves a count without an email,
 * never an email without a count: the cap errs on the side of the provider's quota.
 *
 * Bounded: the table `spent` holds one row per UTC day, and each take deletes the rows of the days
 * before, so it holds one row (two for a moment at midnight) whatever the traffic.
 */

import { DurableObject } from "cloudflare:workers";
import { ApiError } from "../errors.ts";

/** The one object's name: not an address (it has no "@"), so it is no guard's name either. */
export const BUDGET_NAME = "code-emails";
const DAY_MS = 24 * 60 * 60 * 1000;
/** As for the guard: an outage of a Durable Object is usually brief. */
const UNAVAILABLE_RETRY_AFTER_SECONDS = "10";

export type TakeResult = { ok: true; day: string } | { ok: false; retryAfterSeconds: number };

export class CodeEmailBudget extends DurableObject<Env> {
  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    ctx.storage.sql.exec(
      "CREATE TABLE IF NOT EXISTS spent (day TEXT PRIMARY KEY, emails INTEGER NOT NULL) WITHOUT ROWID",
    );
  }

  /**
   * Counts one code email against `now`'s UTC day, unless the day has had `perDay` already: then
   * the seconds until the next UTC midnight, when the budget returns.
   */
  take(perDay: number, now: number): TakeResult {
    const sql = this.ctx.storage.sql;
    const day = utcDay(now);
    sql.exec("DELETE FROM spent WHERE day < ?", day);
    const emails =
      sql.exec<{ emails: number }>("SELECT emails FROM spent WHERE day = ?", day).toArray()[0]?.emails ?? 0;
    if (emails >= perDay) return { ok: false, retryAfterSeconds: secondsToNextUtcDay(now) };
    sql.exec("INSERT INTO spent (day, emails) VALUES (?, 1) ON CONFLICT (day) DO UPDATE SET emails = emails + 1", day);
    return { ok: true, day };
  }

  /** Gives back one email of `day`, taken for a code that was not queued. */
  giveBack(day: string): void {
    this.ctx.storage.sql.exec("UPDATE spent SET emails = emails - 1 WHERE day = ? AND emails > 0", day);
  }
}

/** `YYYY-MM-DD` of `now` in UTC. */
export function utcDay(now: number): string {
  return new Date(now).toISOString().slice(0, 10);
}

function secondsToNextUtcDay(now: number): number {
  const nextMidnight = (Math.floor(now / DAY_MS) + 1) * DAY_MS;
  return Math.max(1, Math.ceil((nextMidnight - now) / 1000));
}

let warned = false;

/**
 * `CODE_EMAILS_PER_DAY` as a whole number. Anything else is a typo that must not lift the cap:
 * no code email until the operator fixes it, said once per isolate.
 */
export function codeEmailsPerDay(env: Env): number {
  const text = env.CODE_EMAILS_PER_DAY.trim();
  if (/^\d{1,9}$/.test(text)) return Number(text);
  if (!warned) {
    warned = true;
    console.error("ingest: CODE_EMAILS_PER_DAY must be a whole number; no code email is sent until it is.");
  }
  return 0;
}

/**
 * Takes one code email from today's budget and answers the day it counted on (for
 * {@link giveBackCodeEmail}); throws 429 `rate_limited` with Retry-After (seconds to the next UTC
 * midnight) past `CODE_EMAILS_PER_DAY`, 503 `rate_limiter_unavailable` if the budget cannot be
 * reached (closed: no email without its count).
 *
 * @example
 * const day = await takeCodeEmail(env);
 * // issue and queue the code; if either fails:
 * await giveBackCodeEmail(env, day);
 */
export async function takeCodeEmail(env: Env): Promise<string> {
  let result: TakeResult;
  try {
    result = await env.CODE_EMAIL_BUDGET.getByName(BUDGET_NAME).take(codeEmailsPerDay(env), Date.now());
  } catch (cause) {
    console.error(`ingest: CODE_EMAIL_BUDGET.take failed: ${cause instanceof Error ? cause.name : typeof cause}`);
    throw new ApiError("rate_limiter_unavailable", {
      headers: { "retry-after": UNAVAILABLE_RETRY_AFTER_SECONDS },
      cause,
    });
  }
  if (!result.ok) {
    throw new ApiError("rate_limited", {
      message: "This service has sent all the codes it sends today; retry after the Retry-After seconds.",
      headers: { "retry-after": String(result.retryAfterSeconds) },
    });
  }
  return result.day;
}

/**
 * Gives back an email taken for a code that was not issued or queued. Never throws: the caller is
 * already answering with an error, and an email not given back only lowers the day's cap by one.
 */
export async function giveBackCodeEmail(env: Env, day: string): Promise<void> {
  try {
    await env.CODE_EMAIL_BUDGET.getByName(BUDGET_NAME).giveBack(day);
  } catch (cause) {
    console.error(`ingest: CODE_EMAIL_BUDGET.giveBack failed: ${cause instanceof Error ? cause.name : typeof cause}`);
  }
}
