/**
 * A stack with a primary and a secondary provider: where each listens, which key it takes, and the
 * settings deliver is given to reach them in order.
 */

import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { ROOT } from "../src/dev-vars.ts";
import { declareProviderSettings, declareSecrets, planProviders, providerVars } from "../src/providers.ts";

describe("planProviders", () => {
  it("puts the first on the stack's provider port with .dev.vars's key, the next on the following ports with keys of their own", () => {
    expect(planProviders([{ name: "resend" }, { name: "postmark" }], 8788, "re_local_notepipe_dev")).toEqual([
      { name: "resend", port: 8788, apiKey: "re_local_notepipe_dev", from: undefined, options: {} },
      { name: "postmark", port: 8789, apiKey: "postmark_local_notepipe_dev", from: undefined, options: {} },
    ]);
  });

  it("gives every provider a free port when the stack's is 0, and keeps what the caller set", () => {
    const planned = planProviders(
      [
        { name: "resend", apiKey: "re_primary" },
        { name: "resend_backup", port: 9100, from: "notes <n@example.com>", options: { rateLimitPerSecond: 0 } },
      ],
      0,
      "re_local_notepipe_dev",
    );
    expect(planned.map(({ port, apiKey }) => [port, apiKey])).toEqual([
      [0, "re_primary"],
      [9100, "resend_backup_local_notepipe_dev"],
    ]);
    expect(planned[1]).toMatchObject({ from: "notes <n@example.com>", options: { rateLimitPerSecond: 0 } });
  });

  it.each([
    [[], "providers lists no provider."],
    [[{ name: "Resend" }], 'Provider name "Resend" must be 1 to 32 lowercase letters, digits or _.'],
    [[{ name: "resend-eu" }], 'Provider name "resend-eu" must be 1 to 32 lowercase letters, digits or _.'],
    [[{ name: "resend" }, { name: "resend" }], 'Provider "resend" is listed twice.'],
  ])("refuses %j: %s", (providers, message) => {
    expect(() => planProviders(providers, 8788, "k")).toThrow(message);
  });
});

describe("providerVars", () => {
  it("names the providers in order, each with its URL, key and sender, and the first as the single provider", () => {
    const planned = planProviders(
      [{ name: "resend", from: "notepipe <notes@notepipe.dev>" }, { name: "postmark" }],
      8788,
      "re_local_notepipe_dev",
    );
    expect(providerVars(planned, ["http://127.0.0.1:8788", "http://127.0.0.1:8789"])).toEqual({
      MAIL_PROVIDERS: "resend,postmark",
      MAIL_API_URL_RESEND: "http://127.0.0.1:8788",
      MAIL_API_KEY_RESEND: "re_local_notepipe_dev",
      MAIL_FROM_RESEND: "notepipe <notes@notepipe.dev>",
      MAIL_API_URL_POSTMARK: "http://127.0.0.1:8789",
      MAIL_API_KEY_POSTMARK: "postmark_local_notepipe_dev",
      MAIL_PROVIDER: "resend",
      MAIL_API_URL: "http://127.0.0.1:8788",
      MAIL_API_KEY: "re_local_notepipe_dev",
    });
  });

  it("leaves MAIL_PROVIDER alone when the first is no kind deliver knows by that name", () => {
    const planned = planProviders([{ name: "primary" }], 0, "k");
    expect(providerVars(planned, ["http://127.0.0.1:40001"])).not.toHaveProperty("MAIL_PROVIDER");
  });
});

describe("declareProviderSettings", () => {
  const vars = { MAIL_PROVIDERS: "resend,postmark", MAIL_API_URL_POSTMARK: "u", MAIL_API_KEY_POSTMARK: "k" };

  it("adds each provider's own settings to deliver's required secrets, so wrangler dev passes them on", () => {
    const config = readFileSync(`${ROOT}/wrangler.deliver.toml`, "utf8");
    const required = /^required\s*=\s*(\[[^\]]*\])/m;
    const before = JSON.parse(required.exec(config)?.[1] ?? "null") as string[];
    const after = JSON.parse(required.exec(declareProviderSettings(config, vars))?.[1] ?? "null") as string[];
    expect(after).toEqual([...before, "MAIL_API_URL_POSTMARK", "MAIL_API_KEY_POSTMARK"]);
  });

  it("lists a name once, and leaves a config alone when there is nothing to add", () => {
    expect(declareProviderSettings('required = ["MAIL_API_KEY_POSTMARK"]', vars)).toBe(
      'required = ["MAIL_API_KEY_POSTMARK", "MAIL_API_URL_POSTMARK"]',
    );
    expect(declareProviderSettings('required = ["A"]', { MAIL_PROVIDERS: "resend" })).toBe('required = ["A"]');
  });
});

describe("declareSecrets", () => {
  it("declares an optional secret only when the stack sets it, so the alert webhook reaches deliver", () => {
    const names = ["OPS_ALERT_WEBHOOK_URL"];
    expect(
      declareSecrets('required = ["MAIL_API_KEY"]', { OPS_ALERT_WEBHOOK_URL: "http://127.0.0.1:1/h" }, names),
    ).toBe('required = ["MAIL_API_KEY", "OPS_ALERT_WEBHOOK_URL"]');
    expect(declareSecrets('required = ["MAIL_API_KEY"]', {}, names)).toBe('required = ["MAIL_API_KEY"]');
  });
});
