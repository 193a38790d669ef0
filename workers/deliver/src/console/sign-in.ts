/**
 * Signing in and out of the console. An operator types an ops token (one of `OPS_TOKENS`, as the
 * ops API takes it) and gets a session cookie (session.ts); a wrong token shows the form again
 * with 401. Tries are bounded per client address by `SIGN_IN_LIMITER` (wrangler.deliver.toml):
 * past it, 429 and the token is not even compared.
 */

import type { Context } from "hono";
import { html } from "hono/html";
import { accessSettings } from "./access.ts";
import { type ConsoleEnv, readForm, requireSameOrigin } from "./guard.ts";
import { bareDocument, respond, seeOther } from "./layout.ts";
import { PATHS } from "./paths.ts";
import { endSession, keyForToken, startSession } from "./session.ts";

function signInPage(c: Context, status: 200 | 401 | 429, message?: string): Response | Promise<Response> {
  const notice = message === undefined ? "" : html`<p class="note bad" role="alert">${message}</p>`;
  return respond(
    c,
    bareDocument(
      "Sign in",
      html`${notice}
<form method="post" action="${PATHS.signIn}">
<p><label>Ops token<br /><input type="password" name="token" autocomplete="off" required size="40" /></label></p>
<p><button>Sign in</button></p>
</form>
<p>One of the tokens in the deliver Worker's <code>OPS_TOKENS</code> secret, as <code>pnpm ops</code> uses.</p>`,
    ),
    status,
  );
}

export function showSignIn(c: Context<ConsoleEnv>): Response | Promise<Response> {
  // Behind Cloudflare Access, Access signs operators in; no ops token opens the console.
  if (accessSettings(c.env) !== null) return seeOther(c, PATHS.overview);
  return signInPage(c, 200);
}

export async function signIn(c: Context<ConsoleEnv>): Promise<Response> {
  if (accessSettings(c.env) !== null) return seeOther(c, PATHS.overview);
  requireSameOrigin(c);
  // Cloudflare sets CF-Connecting-IP on every request it forwards; ingest passes it on unchanged.
  const address = c.req.header("cf-connecting-ip") ?? "unknown";
  const { success } = await c.env.SIGN_IN_LIMITER.limit({ key: `sign-in:${address}` });
  if (!success) return signInPage(c, 429, "Too many sign-in tries from this address; wait a minute.");
  const form = await readForm(c);
  const key = await keyForToken(c.env.OPS_TOKENS, form.get("token") ?? "");
  if (key === null) return signInPage(c, 401, "That is not a current ops token.");
  await startSession(c, key, Date.now());
  return seeOther(c, PATHS.overview);
}

/** Behind the session guard, so a cross-site form cannot sign an operator out either. */
export function signOut(c: Context<ConsoleEnv>): Response {
  // Access's own sign-out for the application's domain (its session is Access's, not ours).
  if (accessSettings(c.env) !== null) return seeOther(c, "/cdn-cgi/access/logout");
  endSession(c);
  return seeOther(c, PATHS.signIn);
}
