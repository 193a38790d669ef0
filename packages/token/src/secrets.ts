/**
 * `TOKEN_SECRETS` and `ENROLL_SECRETS`: each a JSON object of kid → secret. Several kids live side
 * by side during a rotation; removing a kid retires every token (or enrollment code) signed with it.
 */

import * as z from "zod/mini";
import { KID_PATTERN } from "./token.ts";

/**
 * Only for the local stack (`pnpm dev`, `pnpm token`). A deployed Worker gets its value from
 * `wrangler secret put TOKEN_SECRETS`.
 */
export const DEV_TOKEN_SECRETS = '{"dev":"notepipe-dev-secret-change-me"}';

/** Likewise for `ENROLL_SECRETS` (enroll-code.ts); a deployed Worker gets `wrangler secret put ENROLL_SECRETS`. */
export const DEV_ENROLL_SECRETS = '{"dev":"notepipe-dev-enroll-secret-change-me"}';

/** Refuses placeholders such as "x" or "changeme"; a real secret is 32 random bytes. */
const MIN_SECRET_CHARS = 16;

// zod/mini, not "zod": the classic build does not tree-shake and would add ~130 KiB gzip (all of
// its locales) to the ingest bundle. Messages are spelled out here since mini ships none.
const SECRET_RULE = `a secret is a string of at least ${MIN_SECRET_CHARS} characters`;

const tokenSecretsSchema = z.pipe(
  z
    .record(
      z.string().check(z.regex(KID_PATTERN)),
      z.string(SECRET_RULE).check(z.minLength(MIN_SECRET_CHARS, SECRET_RULE)),
      {
        error: (issue) => (issue.code === "invalid_key" ? "a kid is 1 to 32 of A-Z a-z 0-9 _ -" : "must be an object"),
      },
    )
    .check(z.refine((secrets) => Object.keys(secrets).length > 0, "needs at least one kid")),
  // A Map, so that a kid like "constructor" cannot reach Object.prototype.
  z.transform((secrets: Record<string, string>): ReadonlyMap<string, string> => new Map(Object.entries(secrets))),
);

export type TokenSecrets = z.output<typeof tokenSecretsSchema>;

/** Which secret a JSON value is, for the error messages. */
export type SecretsName = "TOKEN_SECRETS" | "ENROLL_SECRETS";

/** The last value parsed per secret: a Worker reads both on the enrollment routes. */
const parsed = new Map<SecretsName, { json: string; secrets: TokenSecrets }>();

/**
 * Parses and checks `TOKEN_SECRETS`. A Worker calls it per request with the same env string, so the
 * last result is kept: zod runs once per isolate. Throws an Error whose message names the problem
 * but never holds a secret.
 *
 * @example
 * const secrets = parseTokenSecrets(env.TOKEN_SECRETS);
 * secrets.get("k2026a"); // "…"
 */
export function parseTokenSecrets(json: string): TokenSecrets {
  return parseKidSecrets(json, "TOKEN_SECRETS");
}

/**
 * Parses and checks `ENROLL_SECRETS`, as {@link parseTokenSecrets} does `TOKEN_SECRETS`.
 *
 * @example
 * const secrets = parseEnrollSecrets(env.ENROLL_SECRETS);
 */
export function parseEnrollSecrets(json: string): TokenSecrets {
  return parseKidSecrets(json, "ENROLL_SECRETS");
}

function parseKidSecrets(json: string, name: SecretsName): TokenSecrets {
  const last = parsed.get(name);
  if (last !== undefined && last.json === json) return last.secrets;
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    // Not the SyntaxError's message: V8 quotes the input in it, and the input is the secret.
    throw new Error(`${name} is not valid JSON; it must be an object of kid -> secret.`);
  }
  const result = tokenSecretsSchema.safeParse(value);
  if (!result.success) {
    // A key is named only if it is a well-formed kid: a malformed one might be a misplaced secret.
    const problems = result.error.issues.map((issue) => {
      const key = issue.path[0];
      const where = key === undefined ? "(root)" : typeof key === "string" && KID_PATTERN.test(key) ? key : "a key";
      return `${where}: ${issue.message}`;
    });
    throw new Error(`${name} must be an object of kid -> secret: ${problems.join("; ")}.`);
  }
  parsed.set(name, { json, secrets: result.data });
  return result.data;
}
