/**
 * The secrets the local stack runs with, so that `pnpm ops` works against `pnpm dev` with no flag:
 * the repo's `.dev.vars` (what `pnpm dev` created and reads), else `.dev.vars.example` (what it is
 * created from). Flags and environment variables always win over these.
 */

import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { parseEnv } from "node:util";

const ROOT = fileURLToPath(new URL("../../../", import.meta.url));

/**
 * The local stack's settings: `.dev.vars` over `.dev.vars.example`, key by key (a `.dev.vars` made
 * from an older example lacks the newer keys, which `pnpm dev` then adds); {} if neither exists.
 */
export function readDevVars(root: string = ROOT): Record<string, string | undefined> {
  const read = (name: string) => (existsSync(`${root}${name}`) ? parseEnv(readFileSync(`${root}${name}`, "utf8")) : {});
  return { ...read(".dev.vars.example"), ...read(".dev.vars") };
}

/**
 * The first token of an `OPS_TOKENS` value (a JSON array or a comma/space separated list), as the
 * deliver Worker reads it.
 *
 * @example
 * firstOpsToken('["tok-a", "tok-b"]'); // "tok-a"
 */
export function firstOpsToken(value: string | undefined): string | undefined {
  const text = value?.trim() ?? "";
  if (text.startsWith("[")) {
    try {
      const tokens: unknown = JSON.parse(text);
      return Array.isArray(tokens) && typeof tokens[0] === "string" ? tokens[0] : undefined;
    } catch {
      return undefined;
    }
  }
  return text.split(/[\s,]+/).find((token) => token !== "");
}
