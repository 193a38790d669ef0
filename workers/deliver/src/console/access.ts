/**
 * Cloudflare Access in front of the console instead of its own sign-in, when the operator sets
 * `OPS_ACCESS_TEAM_DOMAIN` (`https://<team>.cloudflareaccess.com`) and `OPS_ACCESS_AUD` (the Access
 * application's audience tag). Each request then carries the application token Access signed,
 * `Cf-Access-Jwt-Assertion`, checked as Cloudflare documents
 * (https://developers.cloudflare.com/cloudflare-one/identity/users/validating-json/): RS256 under
 * one of the keys at `<team domain>/cdn-cgi/access/certs`, `aud` holding the tag, `iss` the team
 * domain, and not expired. The header, not the `CF_Authorization` cookie, which "is not guaranteed
 * to be passed" (same page).
 */

import { decode, verifyWithJwks } from "hono/jwt";
import type { HonoJsonWebKey } from "hono/utils/jwt/jws";

export const ACCESS_HEADER = "cf-access-jwt-assertion";
/**
 * Access rotates its signing key every 6 weeks and keeps the old one valid 7 days (same page), so
 * keys an hour old are current; a token under a key id not seen yet fetches them again, at most
 * once a minute, so that made-up key ids cannot turn into a request each.
 */
const KEYS_FOR_MS = 60 * 60 * 1000;
const REFETCH_AFTER_MS = 60 * 1000;

export interface AccessSettings {
  teamDomain: string;
  aud: string;
}

/** Who Access vouched for, and until when. */
export interface AccessIdentity {
  subject: string;
  issuedAt: number;
  /** ms. */
  expiresAt: number;
}

/** The Access settings, or null when the console signs operators in itself. */
export function accessSettings(env: Env): AccessSettings | null {
  const teamDomain = env.OPS_ACCESS_TEAM_DOMAIN.trim().replace(/\/+$/, "");
  const aud = env.OPS_ACCESS_AUD.trim();
  return teamDomain === "" || aud === "" ? null : { teamDomain, aud };
}

let cached: { url: string; keys: HonoJsonWebKey[]; fetchedAt: number } | undefined;

async function accessKeys(url: string, now: number, kid: string | undefined): Promise<HonoJsonWebKey[]> {
  const fresh = cached?.url === url && now - cached.fetchedAt < KEYS_FOR_MS;
  const known = cached?.keys.some((key) => key.kid === kid) ?? false;
  if (cached !== undefined && fresh && (known || now - cached.fetchedAt < REFETCH_AFTER_MS)) return cached.keys;
  const response = await fetch(url);
  if (!response.ok) throw new Error(`Access certs answered ${response.status}`);
  const { keys } = (await response.json()) as { keys?: HonoJsonWebKey[] };
  if (!Array.isArray(keys)) throw new Error("Access certs hold no keys");
  cached = { url, keys, fetchedAt: now };
  return keys;
}

/** The identity the request's Access token proves, or null if it has none or it does not verify. */
export async function verifyAccess(
  request: Request,
  settings: AccessSettings,
  now: number,
): Promise<AccessIdentity | null> {
  const token = request.headers.get(ACCESS_HEADER);
  if (token === null) return null;
  try {
    const keys = await accessKeys(`${settings.teamDomain}/cdn-cgi/access/certs`, now, decode(token).header.kid);
    const payload = await verifyWithJwks(token, {
      keys,
      allowedAlgorithms: ["RS256"],
      verification: { iss: settings.teamDomain, aud: settings.aud },
    });
    const { sub, iat, exp } = payload as { sub?: unknown; iat?: unknown; exp?: unknown };
    // Access always sets them; a token without an expiry would be good for ever.
    if (typeof sub !== "string" || typeof iat !== "number" || typeof exp !== "number") return null;
    return { subject: sub, issuedAt: iat, expiresAt: exp * 1000 };
  } catch {
    return null;
  }
}
