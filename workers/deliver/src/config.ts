/**
 * The deliver Worker's settings, read from its vars and its secret once per isolate: the
 * configured strings are JSON-encoded here, not per email (see `emailJson` in providers/).
 */

import { MAX_FRAME_BYTES } from "@notepipe/frame";
import deliverPackage from "../package.json" with { type: "json" };
import { CLOUDFLARE_BINDING, cloudflareProvider, sendEmailBindingOf } from "./providers/cloudflare.ts";
import { postmarkProvider } from "./providers/postmark.ts";
import type { MailProvider, SendSettings } from "./providers/provider.ts";
import { resendProvider } from "./providers/resend.ts";
import { MAX_DELAY_SECONDS, type RetrySettings } from "./queue/backoff.ts";

/**
 * Every provider deliver can send through, with where it answers when no setting says otherwise.
 * `keyed`: it needs an API key (a binding-based provider would not).
 */
const PROVIDERS: Record<string, { provider: MailProvider; defaultUrl: string; keyed: boolean }> = {
  resend: { provider: resendProvider, defaultUrl: "https://api.resend.com", keyed: true },
  postmark: { provider: postmarkProvider, defaultUrl: "https://api.postmarkapp.com", keyed: true },
  // The `send_email` binding (providers/cloudflare.ts): no URL, no key.
  cloudflare: { provider: cloudflareProvider, defaultUrl: "", keyed: false },
};

/**
 * A listed provider's own settings: `MAIL_API_KEY_<NAME>`, `MAIL_API_URL_<NAME>`, `MAIL_FROM_<NAME>`
 * (`<NAME>` upper case, e.g. `MAIL_API_KEY_POSTMARK`). Read from the environment by name: a secret
 * per listed provider is not a binding every deploy has.
 */
const PER_PROVIDER = ["MAIL_API_KEY", "MAIL_API_URL", "MAIL_FROM"] as const;
const PER_PROVIDER_KEYS = Object.keys(PROVIDERS).flatMap((name) =>
  PER_PROVIDER.map((setting) => `${setting}_${name.toUpperCase()}`),
);

/** What every provider request says it is, unless MAIL_USER_AGENT says otherwise. */
export const DEFAULT_USER_AGENT = `notepipe/${deliverPackage.version}`;
/**
 * A header value fetch sends as it is: visible ASCII and inner spaces (RFC 9110 §5.5 allows more,
 * but a proxy in front of an API may not), at most 256 characters.
 */
const USER_AGENT = /^[\x21-\x7e](?:[\x20-\x7e]{0,254}[\x21-\x7e])?$/;

/** One listed provider and what deliver sends through it with. */
export interface ProviderConfig {
  provider: MailProvider;
  send: SendSettings;
}

/** When a provider's circuit opens, and how long until it is probed (ledger/circuits.ts). */
export interface CircuitSettings {
  /** Transient failures in a row (5xx, timeouts, dropped connections) that open it. */
  failures: number;
  /** ...counted only while each came within this long of the first. */
  windowMs: number;
  /** The first wait before a probe; each probe that fails doubles it, up to `PIPELINE_RETRY_SECONDS`. */
  probeMs: number;
  maxProbeMs: number;
}

export interface DeliverConfig {
  /** The first listed provider, and its settings: where code emails go, and notes while its circuit is closed. */
  provider: MailProvider;
  send: SendSettings;
  /** `MAIL_PROVIDERS` in order (a list of one: `MAIL_PROVIDER`), each name once. */
  providers: readonly ProviderConfig[];
  circuit: CircuitSettings;
  retry: RetrySettings;
  /** Frame bytes one invocation sends at most (BATCH_FRAME_BUDGET_BYTES); the rest wait for the next. */
  frameBudgetBytes: number;
}

export type ConfigResult = { ok: true; config: DeliverConfig } | { ok: false; problem: string };

const CONFIG_KEYS = [
  "MAIL_PROVIDER",
  "MAIL_PROVIDERS",
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
  "CIRCUIT_FAILURES",
  "CIRCUIT_WINDOW_SECONDS",
  "CIRCUIT_PROBE_SECONDS",
] as const satisfies readonly (keyof Env)[];

/** Widened to string: wrangler types each var as its literal value in wrangler.deliver.toml. */
export type ConfigSource = Readonly<Record<(typeof CONFIG_KEYS)[number], string>>;

/** A setting by name, for the per-provider ones, which are in no deploy's bindings unless set. */
function settingOf(env: ConfigSource, name: string): string | undefined {
  const value = (env as unknown as Readonly<Record<string, unknown>>)[name];
  return typeof value === "string" && value !== "" ? value : undefined;
}

const SECONDS_KEYS = [
  "MAIL_TIMEOUT_SECONDS",
  "RETRY_BASE_SECONDS",
  "RETRY_MAX_SECONDS",
  "PIPELINE_RETRY_SECONDS",
  "CIRCUIT_WINDOW_SECONDS",
  "CIRCUIT_PROBE_SECONDS",
] as const;

/** 100 frames of 64 KiB: the most a batch can hold, so a budget above it changes nothing. */
const MAX_BUDGET_BYTES = 100 * MAX_FRAME_BYTES;

let cached: { values: unknown[]; result: ConfigResult } | undefined;

/**
 * @example
 * const read = readConfig(env);
 * if (!read.ok) console.error(read.problem);
 */
export function readConfig(env: ConfigSource): ConfigResult {
  const values = [
    ...CONFIG_KEYS.map((key) => env[key]),
    ...PER_PROVIDER_KEYS.map((key) => settingOf(env, key)),
    sendEmailBindingOf(env),
  ];
  if (cached === undefined || cached.values.some((value, i) => value !== values[i])) {
    cached = { values, result: parseConfig(env) };
  }
  return cached.result;
}

function parseConfig(env: ConfigSource): ConfigResult {
  const names = (env.MAIL_PROVIDERS?.trim() || env.MAIL_PROVIDER || "").split(",").map((name) => name.trim());
  const providers: ProviderConfig[] = [];
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
  for (const name of names) {
    if (providers.some((listed) => listed.provider.name === name)) {
      return { ok: false, problem: `MAIL_PROVIDERS names "${name}" twice.` };
    }
    const read = readProvider(env, name, userAgent, seconds.MAIL_TIMEOUT_SECONDS * 1000);
    if (!read.ok) return read;
    providers.push(read.provider);
  }
  const failures = Number(env.CIRCUIT_FAILURES);
  if (!Number.isInteger(failures) || failures < 1 || failures > 100) {
    return { ok: false, problem: "CIRCUIT_FAILURES must be a whole number from 1 to 100." };
  }
  const budget = Number(env.BATCH_FRAME_BUDGET_BYTES);
  // At least one largest frame, or no note of 64 KiB could ever go out.
  if (!Number.isInteger(budget) || budget < MAX_FRAME_BYTES || budget > MAX_BUDGET_BYTES) {
    return {
      ok: false,
      problem: `BATCH_FRAME_BUDGET_BYTES must be a whole number of bytes from ${MAX_FRAME_BYTES} to ${MAX_BUDGET_BYTES}.`,
    };
  }
  const first = providers[0] as ProviderConfig;
  return {
    ok: true,
    config: {
      frameBudgetBytes: budget,
      provider: first.provider,
      send: first.send,
      providers,
      circuit: {
        failures,
        windowMs: seconds.CIRCUIT_WINDOW_SECONDS * 1000,
        probeMs: seconds.CIRCUIT_PROBE_SECONDS * 1000,
        maxProbeMs: Math.max(seconds.CIRCUIT_PROBE_SECONDS, seconds.PIPELINE_RETRY_SECONDS) * 1000,
      },
      retry: {
        baseSeconds: seconds.RETRY_BASE_SECONDS,
        maxSeconds: seconds.RETRY_MAX_SECONDS,
        pipelineSeconds: seconds.PIPELINE_RETRY_SECONDS,
      },
    },
  };
}

/**
 * One listed provider's settings: its own `MAIL_API_KEY_<NAME>`, `MAIL_API_URL_<NAME>` and
 * `MAIL_FROM_<NAME>`. The unsuffixed `MAIL_API_KEY` and `MAIL_API_URL` belong to `MAIL_PROVIDER`
 * alone (a key is never sent to another provider); `MAIL_FROM` is every provider's sender unless
 * it has its own; a URL not set is the provider's production API.
 */
function readProvider(
  env: ConfigSource,
  name: string,
  userAgent: string,
  timeoutMs: number,
): { ok: true; provider: ProviderConfig } | { ok: false; problem: string } {
  const known = Object.hasOwn(PROVIDERS, name) ? PROVIDERS[name] : undefined;
  if (known === undefined) {
    const list = Object.keys(PROVIDERS).map((each) => `"${each}"`);
    return {
      ok: false,
      problem: `MAIL_PROVIDERS (or MAIL_PROVIDER) must list ${list.join(", ")}; it names ${JSON.stringify(name)}.`,
    };
  }
  const own = (setting: (typeof PER_PROVIDER)[number]) => settingOf(env, `${setting}_${name.toUpperCase()}`);
  const isDefault = name === env.MAIL_PROVIDER;
  const apiUrl = own("MAIL_API_URL") ?? (isDefault ? env.MAIL_API_URL : undefined) ?? known.defaultUrl;
  const suffix = `_${name.toUpperCase()}`;
  if (known.keyed && !/^https?:\/\/[^/\s]+/.test(apiUrl)) {
    return {
      ok: false,
      problem: `MAIL_API_URL${isDefault ? "" : suffix} must be an http(s) URL such as ${known.defaultUrl}.`,
    };
  }
  // The secret's value never goes into a message.
  const apiKey = own("MAIL_API_KEY") ?? (isDefault ? env.MAIL_API_KEY : undefined) ?? "";
  if (known.keyed && apiKey === "") {
    return { ok: false, problem: `The MAIL_API_KEY${isDefault ? "" : suffix} secret is not set (${name}).` };
  }
  const binding = known.keyed ? undefined : sendEmailBindingOf(env);
  if (!known.keyed && binding === undefined) {
    return {
      ok: false,
      problem: `MAIL_PROVIDERS lists ${name}, which needs a [[send_email]] binding named ${CLOUDFLARE_BINDING} in wrangler.deliver.toml.`,
    };
  }
  const from = own("MAIL_FROM") ?? env.MAIL_FROM ?? "";
  if (!from.trim()) return { ok: false, problem: `MAIL_FROM${isDefault ? "" : suffix} is empty (${name}).` };
  return {
    ok: true,
    provider: {
      provider: known.provider,
      send: {
        apiUrl: apiUrl.replace(/\/+$/, ""),
        apiKey,
        fromJson: JSON.stringify(from),
        subjectJson: JSON.stringify(env.MAIL_SUBJECT ?? ""),
        userAgent,
        timeoutMs,
        ...(binding === undefined ? {} : { binding }),
      },
    },
  };
}
