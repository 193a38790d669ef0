/**
 * Request bodies for ops and webhooks: size-checked before and while they are read, parsed with zod,
 * and refused with one clear sentence through {@link HttpError}.
 *
 * `zod/mini`, not `zod`: the same checks and messages, but its functions tree-shake. The classic
 * API bundled here costs ~25 KB gzip (and ~90 KB with `import { z }`, which keeps every locale);
 * mini with the English messages ~8 KB.
 */

import { hasMediaType, readBodyUpTo } from "@notepipe/http";
import type { Context } from "hono";
import { en } from "zod/locales";
import * as z from "zod/mini";
import { HttpError } from "./errors.ts";

z.config(en());

type Schema = z.ZodMiniType;

/**
 * Reads the body as text, refusing it with 413 if it is over `maxBytes`, declared or counted as it
 * arrives (@notepipe/http's `readBodyUpTo`: at most that and one chunk are ever held).
 *
 * @example
 * const raw = await readText(c, 256 * 1024); // a webhook's body, exactly as signed
 */
export async function readText(c: Context, maxBytes: number): Promise<string> {
  const bytes = await readBodyUpTo(c.req.raw, maxBytes);
  if (bytes === undefined) throw new HttpError("body_too_large", { message: `The body is at most ${maxBytes} bytes.` });
  return new TextDecoder().decode(bytes);
}

/** Parses JSON text with `schema`; 400 with what is wrong, path by path. */
export function parseJson<T extends Schema>(text: string, schema: T): z.output<T> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new HttpError("bad_request", { message: "The body is not valid JSON." });
  }
  return parseWith(schema, value, "body");
}

/** Validates `value` (a parsed body, a query) with `schema`; 400 naming each problem. */
export function parseWith<T extends Schema>(schema: T, value: unknown, what: string): z.output<T> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const problems = result.error.issues.slice(0, 5).map((issue) => {
    const path = issue.path.length === 0 ? what : issue.path.join(".");
    return `${path}: ${issue.message}`;
  });
  throw new HttpError("bad_request", { message: `Invalid ${what}: ${problems.join("; ")}.` });
}

/**
 * A JSON body: `application/json` (415 otherwise), at most `maxBytes`, valid against `schema`.
 *
 * @example
 * const body = await readJson(c, replaySchema, 64 * 1024);
 */
export async function readJson<T extends Schema>(c: Context, schema: T, maxBytes: number): Promise<z.output<T>> {
  if (!hasMediaType(c.req.header("content-type"), "application/json")) throw new HttpError("unsupported_media_type");
  return parseJson(await readText(c, maxBytes), schema);
}
