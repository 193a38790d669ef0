/**
 * A stack with several mail providers (a primary, then its failover secondaries): one local
 * provider each, each an independent account on a port of its own with a key of its own, and the
 * settings that hand deliver the ordered list: `MAIL_PROVIDERS` (the names, in order), and per
 * provider `MAIL_API_URL_<NAME>`, `MAIL_API_KEY_<NAME>` and, when given, `MAIL_FROM_<NAME>` (NAME
 * upper-cased), with the first provider's URL and key also as the single-provider `MAIL_API_URL`
 * and `MAIL_API_KEY` (and its name as `MAIL_PROVIDER` when that is `resend` or `postmark`), so a
 * config that reads one provider still finds it.
 */

import type { LocalProviderOptions } from "@notepipe/local-provider";

export interface StackProvider {
  /**
   * Its name in `MAIL_PROVIDERS`, which is also the API deliver speaks to it (`resend`,
   * `postmark`): lowercase letters, digits and `_`, unique within the list. Every local provider
   * speaks both APIs, so two of the same kind are two names deliver maps to that kind.
   */
  name: string;
  /** Its port; 0 picks a free one. Default: the stack's `providerPort` (8788) for the first, the next ports after. */
  port?: number;
  /** The key it accepts and deliver sends. Default: `.dev.vars`'s MAIL_API_KEY for the first, `<name>_local_notepipe_dev` after. */
  apiKey?: string;
  /** The sender deliver uses with it (`MAIL_FROM_<NAME>`). Default: none written, deliver's MAIL_FROM. */
  from?: string;
  /** Rate limit, faults, … of this provider alone. */
  options?: Omit<LocalProviderOptions, "apiKeys" | "name" | "webhooks">;
}

/** A provider as the stack starts it: every default settled. */
export interface PlannedProvider {
  name: string;
  port: number;
  apiKey: string;
  from: string | undefined;
  options: Omit<LocalProviderOptions, "apiKeys" | "name" | "webhooks">;
}

const NAME = /^[a-z][a-z0-9_]{0,31}$/;

/**
 * Settles the defaults of `providers`, or throws an Error saying what is wrong with the list.
 *
 * @example
 * planProviders([{ name: "resend" }, { name: "postmark" }], 8788, "re_local_notepipe_dev");
 * // [{ name: "resend", port: 8788, apiKey: "re_local_notepipe_dev", … }, { name: "postmark", port: 8789, apiKey: "postmark_local_notepipe_dev", … }]
 */
export function planProviders(
  providers: readonly StackProvider[],
  firstPort: number,
  firstApiKey: string,
): PlannedProvider[] {
  if (providers.length === 0) throw new Error("providers lists no provider.");
  const names = new Set<string>();
  return providers.map((provider, i) => {
    if (!NAME.test(provider.name)) {
      throw new Error(`Provider name "${provider.name}" must be 1 to 32 lowercase letters, digits or _.`);
    }
    if (names.has(provider.name)) throw new Error(`Provider "${provider.name}" is listed twice.`);
    names.add(provider.name);
    const defaultPort = firstPort === 0 ? 0 : firstPort + i;
    return {
      name: provider.name,
      port: provider.port ?? defaultPort,
      apiKey: provider.apiKey ?? (i === 0 ? firstApiKey : `${provider.name}_local_notepipe_dev`),
      from: provider.from,
      options: provider.options ?? {},
    };
  });
}

/**
 * The deliver settings that name every provider, in order, where each one listens.
 *
 * @example
 * providerVars([{ name: "resend", apiKey: "k1", from: undefined }], ["http://127.0.0.1:8788"]);
 * // { MAIL_PROVIDERS: "resend", MAIL_API_URL_RESEND: "http://127.0.0.1:8788", MAIL_API_KEY_RESEND: "k1", MAIL_API_URL: …, MAIL_API_KEY: "k1" }
 */
export function providerVars(
  providers: readonly Pick<PlannedProvider, "name" | "apiKey" | "from">[],
  urls: readonly string[],
): Record<string, string> {
  const vars: Record<string, string> = { MAIL_PROVIDERS: providers.map(({ name }) => name).join(",") };
  providers.forEach((provider, i) => {
    const suffix = provider.name.toUpperCase();
    vars[`MAIL_API_URL_${suffix}`] = urls[i] as string;
    vars[`MAIL_API_KEY_${suffix}`] = provider.apiKey;
    if (provider.from !== undefined) vars[`MAIL_FROM_${suffix}`] = provider.from;
  });
  const [first] = providers;
  if (first !== undefined) {
    vars.MAIL_API_URL = urls[0] as string;
    vars.MAIL_API_KEY = first.apiKey;
    if (first.name === "resend" || first.name === "postmark") vars.MAIL_PROVIDER = first.name;
  }
  return vars;
}

/** The per-provider settings (`MAIL_API_URL_RESEND`, …), which no config declares. */
const PER_PROVIDER_SETTING = /^MAIL_(?:API_URL|API_KEY|FROM)_[A-Z0-9_]+$/;

/**
 * `config` (wrangler.deliver.toml) with the per-provider settings among `vars` added to its
 * `[secrets] required`: wrangler dev gives a Worker only the `.dev.vars` keys its config lists
 * there or declares as a var, so without this `MAIL_API_KEY_POSTMARK` would never reach deliver.
 *
 * @example
 * declareProviderSettings('required = ["MAIL_API_KEY"]', { MAIL_API_KEY_POSTMARK: "k" });
 * // 'required = ["MAIL_API_KEY", "MAIL_API_KEY_POSTMARK"]'
 */
export function declareProviderSettings(config: string, vars: Readonly<Record<string, string>>): string {
  return declareSecrets(
    config,
    vars,
    Object.keys(vars).filter((name) => PER_PROVIDER_SETTING.test(name)),
  );
}

/**
 * `config` with those of `names` that `vars` sets added to its `[secrets] required`.
 *
 * @example
 * declareSecrets('required = ["MAIL_API_KEY"]', { OPS_ALERT_WEBHOOK_URL: "u" }, ["OPS_ALERT_WEBHOOK_URL"]);
 * // 'required = ["MAIL_API_KEY", "OPS_ALERT_WEBHOOK_URL"]'
 */
export function declareSecrets(
  config: string,
  vars: Readonly<Record<string, string>>,
  names: readonly string[],
): string {
  const set = names.filter((name) => vars[name] !== undefined);
  if (set.length === 0) return config;
  const required = /^(required\s*=\s*\[)([^\]]*)\]/m;
  const match = required.exec(config);
  if (match === null) throw new Error("wrangler.deliver.toml has no [secrets] required = [...] to add to.");
  const listed = (match[2] ?? "").trim().replace(/,\s*$/, "");
  const added = set.filter((name) => !listed.includes(`"${name}"`)).map((name) => JSON.stringify(name));
  return config.replace(required, `$1${[listed, ...added].filter((item) => item !== "").join(", ")}]`);
}
