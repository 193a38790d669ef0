/**
 * Who may enrol: the operator's `ENROLLMENT` and `ENROLLMENT_DOMAINS` vars (wrangler.ingest.toml).
 * Checked on both enrollment routes, so that closing enrollment also stops codes already sent.
 */

import { ApiError } from "../errors.ts";

type Policy = { mode: "open" } | { mode: "closed" } | { mode: "domains"; domains: ReadonlySet<string> };

let cached: { mode: string; domains: string; policy: Policy } | undefined;

function readPolicy(mode: string, domains: string): Policy {
  if (cached?.mode === mode && cached.domains === domains) return cached.policy;
  let policy: Policy;
  if (mode === "open" || mode === "closed") policy = { mode };
  else if (mode === "domains") {
    const list = domains.split(",").map((domain) => domain.trim().toLowerCase());
    policy = { mode, domains: new Set(list.filter((domain) => domain !== "")) };
  } else {
    // A typo must not open enrollment: closed until the operator fixes it, and said once per isolate.
    console.error(`ingest: ENROLLMENT must be "open", "domains" or "closed"; enrollment is closed until it is.`);
    policy = { mode: "closed" };
  }
  cached = { mode, domains, policy };
  return policy;
}

/**
 * Throws 403 `enrollment_closed`, or `domain_not_allowed` for an address outside
 * `ENROLLMENT_DOMAINS` (a code of its own: the app can tell its user which address to use).
 *
 * @example
 * assertMayEnrol(env, "ada@example.com");
 */
export function assertMayEnrol(env: Env, address: string): void {
  const policy = readPolicy(env.ENROLLMENT, env.ENROLLMENT_DOMAINS);
  if (policy.mode === "open") return;
  if (policy.mode === "closed") throw new ApiError("enrollment_closed");
  // The recipient rule allows one "@" only, and lowercase letters: compare as they are.
  const domain = address.slice(address.indexOf("@") + 1);
  if (!policy.domains.has(domain)) throw new ApiError("domain_not_allowed");
}
