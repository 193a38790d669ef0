/**
 * The local stack's settings, read one way by everything that needs them (`pnpm dev`, `pnpm token`,
 * `pnpm ops`, `pnpm demo`, the web demo, the tests' stacks): for each key, the environment, else
 * `.dev.vars` (what `pnpm dev` created and wrangler reads), else `.dev.vars.example` (what it is
 * created from). So a token minted by `pnpm token` after an edit of `.dev.vars` is one the running
 * stack accepts.
 */

import { appendFileSync, copyFileSync, existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseEnv } from "node:util";

/** The repository's root, where `.dev.vars` and the wrangler configs live. */
export const ROOT = fileURLToPath(new URL("../../../", import.meta.url));

/** The keys of the local stack's settings, as `.dev.vars.example` lists them. */
export type DevVars = Record<string, string | undefined>;

function readEnvFile(path: string): Record<string, string> {
  return existsSync(path) ? (parseEnv(readFileSync(path, "utf8")) as Record<string, string>) : {};
}

/**
 * Every setting of `.dev.vars.example`, with the precedence above; keys only `.dev.vars` has too.
 *
 * @example
 * readDevVars().TOKEN_SECRETS; // '{"dev":"notepipe-dev-secret-change-me"}' unless you changed it
 */
export function readDevVars(root: string = ROOT, env: NodeJS.ProcessEnv = process.env): DevVars {
  const files = { ...readEnvFile(join(root, ".dev.vars.example")), ...readEnvFile(join(root, ".dev.vars")) };
  const vars: DevVars = { ...files };
  for (const name of Object.keys(files)) if (env[name] !== undefined) vars[name] = env[name];
  return vars;
}

/** The shipped dev settings alone, for a throwaway stack that must not pick up the user's edits. */
export function exampleDevVars(root: string = ROOT): Record<string, string> {
  return readEnvFile(join(root, ".dev.vars.example"));
}

/**
 * Creates `.dev.vars` from `.dev.vars.example` if it is missing, so that `pnpm dev` needs no file
 * from the user, and appends the example's keys it lacks (a `.dev.vars` made from an older
 * example), never changing a value the user set. Answers what it did.
 */
export function ensureDevVars(root: string = ROOT): { path: string; created: boolean; added: string[] } {
  const path = join(root, ".dev.vars");
  let created = false;
  if (!existsSync(path)) {
    copyFileSync(join(root, ".dev.vars.example"), path);
    created = true;
  }
  const vars = readEnvFile(path);
  const example = exampleDevVars(root);
  const added = Object.keys(example).filter((name) => vars[name] === undefined);
  if (added.length > 0) {
    const lines = added.map((name) => devVarsLine(name, example[name] as string));
    appendFileSync(path, `\n# Added from .dev.vars.example by pnpm dev\n${lines.join("\n")}\n`);
  }
  return { path, created, added };
}

/** A .dev.vars line; values are single-quoted so JSON (TOKEN_SECRETS) survives dotenv. */
export function devVarsLine(name: string, value: string): string {
  if (value.includes("'") || value.includes("\n")) {
    throw new Error(`The value of ${name} cannot go into .dev.vars: it holds a quote or a newline.`);
  }
  return `${name}='${value}'`;
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
