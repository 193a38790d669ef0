/**
 * Who may see a console page and send its forms. A page needs a session (session.ts): without one,
 * a GET goes to the sign-in page and anything else is refused with 401. With Cloudflare Access
 * configured (access.ts), the session is the one its token proves, on every request, and without
 * one every route is 401. A form that changes
 * something must also come from this console's own page: its `Origin` is the console's origin
 * (browsers send it with every POST), and it carries the session's CSRF token. Either missing or
 * wrong is 403 `csrf_refused`, and nothing happens. SameSite=Strict already keeps the cookie off
 * other sites' requests; these two checks hold where it does not (an old browser, a sibling host).
 */

import { hasMediaType } from "@notepipe/http";
import type { Context, MiddlewareHandler } from "hono";
import { readText } from "../http/body.ts";
import { HttpError } from "../http/errors.ts";
import { accessSettings, verifyAccess } from "./access.ts";
import { seeOther } from "./layout.ts";
import { PATHS } from "./paths.ts";
import { accessSession, csrfTokenMatches, csrfTokenOf, readSession, type Session } from "./session.ts";

export type ConsoleEnv = {
  Bindings: Env;
  Variables: { session: Session; csrf: string; form: URLSearchParams };
};

/** A console form is a few hundred ids at most: 100 UUIDs of a page are 4 KB. */
const MAX_FORM_BYTES = 64 * 1024;

const SAFE_METHODS = new Set(["GET", "HEAD"]);

/**
 * The form of a POST, `application/x-www-form-urlencoded` as HTML forms send it, at most 64 KiB.
 *
 * @example
 * const form = await readForm(c);
 * form.getAll("id");
 */
export async function readForm(c: Context): Promise<URLSearchParams> {
  if (!hasMediaType(c.req.header("content-type"), "application/x-www-form-urlencoded")) {
    throw new HttpError("unsupported_media_type", { message: "Send the form as application/x-www-form-urlencoded." });
  }
  return new URLSearchParams(await readText(c, MAX_FORM_BYTES));
}

/** Refuses a POST whose Origin is not the console's own (a missing one included). */
export function requireSameOrigin(c: Context): void {
  if (c.req.header("origin") !== new URL(c.req.url).origin) {
    throw new HttpError("csrf_refused", { message: "This form was not sent from the ops console's own origin." });
  }
}

/** Every console route but sign-in runs behind this. */
export const requireSession: MiddlewareHandler<ConsoleEnv> = async (c, next) => {
  const now = Date.now();
  const access = accessSettings(c.env);
  const identity = access === null ? null : await verifyAccess(c.req.raw, access, now);
  const session =
    access === null
      ? await readSession(c, c.env.OPS_TOKENS, now)
      : identity === null
        ? null
        : await accessSession(c.env.OPS_TOKENS, identity);
  const safe = SAFE_METHODS.has(c.req.method);
  if (session === null && access !== null) {
    throw new HttpError("unauthorized", {
      message: "Cloudflare Access did not vouch for this request: no valid Cf-Access-Jwt-Assertion.",
    });
  }
  if (session === null) {
    if (safe) return seeOther(c, PATHS.signIn);
    throw new HttpError("unauthorized", { message: "Sign in to the ops console first." });
  }
  c.set("session", session);
  c.set("csrf", await csrfTokenOf(session));
  if (!safe) {
    requireSameOrigin(c);
    const form = await readForm(c);
    if (!(await csrfTokenMatches(session, form.get("csrf") ?? ""))) {
      throw new HttpError("csrf_refused", { message: "This form's CSRF token is not this session's." });
    }
    c.set("form", form);
  }
  await next();
};
