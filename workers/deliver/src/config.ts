/**
 * The deliver Worker's settings, read from its vars and its secret once per isolate: the
 * configured strings are JSON-encoded here, not per email (see `emailJson` in providers/).
 */

import { MAX_FRAME_BYTES } from "@notepipe/frame";
import deliverPackage from "../package.json" with { type: "json" };
import { postmarkProvider } from "./providers/postmark.ts";
import type { MailProvider, SendSettings } from "./providers/provider.ts";
import { resendProvider } from "./providers/resend.ts";
import { MAX_DELAY_SECONDS, type RetrySettings } from "./queue/backoff.ts";

const PROVIDERS: Record<string, MailProvider> = { resend: resendProvider, postmark: postmarkProvider };

/** What every provider request says it is, unless MAIL_USER_AGENT says otherwise. */
export const DEFAULT_USER_AGENT = `notepipe/${deliverPackage.version}`;
/**
 * A header value fetch sends as it is: visible ASCII and inner spaces (RFC 9110 §5.5 allows more,
 * but a proxy in front of an API may not), at most 256 characters.
 */
const USER_AGENT = /^[\x21-\x7e](?:[\x20-\x7e]{0,254}[\x21-\x7e])?$/;

export interface DeliverConfig {
  provider: MailProvider;
  send: SendSettings;
  retry: RetrySettings;
  /** Frame bytes one invocation sends at most (BATCH_FRAME_BUDGET_BYTES); the rest wait for the next. */
  frameBudgetBytes: number;
}

export type ConfigResult = { ok: true; config: DeliverConfig } | { ok: false; problem: string };

const CONFIG_KEYS = [
  "MAIL_PROVIDER",
  "MAIL_API_URL",
  "MAIL_API_KEY",
  "MAIL_FROM",
  "MAIL_SUBJECT",
  "MAIL_USER_AGENT",
  "MAIL_TIMEOUT_SECONDS",
  "RETRY_BASE_SECONDS",
  "RETRY_MAX_SECONDS",
  "PIPELINE_RETRY_SECONDS",
  "BATCH_FRAME_BUDGET_BYTES",
] as const satisfies readonly (keyof Env)[];

/** Widened to string: wrangler types each var as its literal value in wrangler.deliver.toml. */
export type ConfigSource = Readonly<Record<(typeof CONFIG_KEYS)[number], string>>;

const SECONDS_KEYS = [
  "MAIL_TIMEOUT_SECONDS",
  "RETRY_BASE_SECONDS",
  "RETRY_MAX_SECONDS",
  "PIPELINE_RETRY_SECONDS",
] as const;

/** 100 frames of 64 KiB: the most a batch can hold, so a budget above it changes nothing. */
const MAX_BUDGET_BYTES = 100 * MAX_FRAME_BYTES;

let cached: { values: string[]; result: ConfigResult } | undefined;

/**
 * @example
 * const read = readConfig(env);
 * if (!read.ok) console.error(read.problem);
 */
export function readConfig(env: ConfigSource): ConfigResult {
  const values = CONFIG_KEYS.map((key) => env[key]);
  if (cached === undefined || cached.values.some((value, i) => value !== values[i])) {
    cached = { values, result: parseConfig(env) };
  }
  return cached.result;
}

function parseConfig(env: ConfigSource): ConfigResult {
  const provider = PROVIDERS[env.MAIL_PROVIDER];
  if (provider === undefined) {
    return {
      ok: false,
      problem: `MAIL_PROVIDER must be "resend" or "postmark"; it is ${JSON.stringify(env.MAIL_PROVIDER)}.`,
    };
  }
  if (!/^https?:\/\/[^/\s]+/.test(env.MAIL_API_URL ?? "")) {
    return { ok: false, problem: "MAIL_API_URL must be an http(s) URL such as https://api.resend.com." };
  }
  // The secret's value never goes into a message.
  if (!env.MAIL_API_KEY) return { ok: false, problem: "The MAIL_API_KEY secret is not set." };
  if (!env.MAIL_FROM?.trim()) return { ok: false, problem: "MAIL_FROM is empty." };
  const userAgent = env.MAIL_USER_AGENT?.trim() || DEFAULT_USER_AGENT;
  if (!USER_AGENT.test(userAgent)) {
    return { ok: false, problem: "MAIL_USER_AGENT must be 1 to 256 visible ASCII characters, such as notepipe/1.0." };
  }
  const seconds = {} as Record<(typeof SECONDS_KEYS)[number], number>;
  for (const key of SECONDS_KEYS) {
    const value = Number(env[key]);
    if (!Number.isInteger(value) || value < 1 || value > MAX_DELAY_SECONDS) {
      return { ok: false, problem: `${key} must be a whole number of seconds from 1 to ${MAX_DELAY_SECONDS}.` };
    }
    seconds[key] = value;
  }
  const budget = Number(env.BATCH_FRAME_BUDGET_BYTES);
  // At least one largest frame, or no note of 64 KiB could ever go out.
  if (!Number.isInteger(budget) || budget < MAX_FRAME_BYTES || budget > MAX_BUDGET_BYTES) {
    return {
      ok: false,
      problem: `BATCH_FRAME_BUDGET_BYTES must be a whole number of bytes from ${MAX_FRAME_BYTES} to ${MAX_BUDGET_BYTES}.`,
    };
  }
  return {
    ok: true,
    config: {
      frameBudgetBytes: budget,
      provider,
      send: {
        apiUrl: env.MAIL_API_URL.replace(/\/+$/, ""),
        apiKey: env.MAIL_API_KEY,
        fromJson: JSON.stringify(env.MAIL_FROM),
        subjectJson: JSON.stringify(env.MAIL_SUBJECT ?? ""),
        userAgent,
        timeoutMs: seconds.MAIL_TIMEOUT_SECONDS * 1000,
      },
      retry: {
        baseSeconds: seconds.RETRY_BASE_SECONDS,
        maxSeconds: seconds.RETRY_MAX_SECONDS,
        pipelineSeconds: seconds.PIPELINE_RETRY_SECONDS,
      },
    },
  };
}
