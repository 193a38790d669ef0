/**
 * `Authorization: Bearer <token>` (RFC 6750 §2.1), read the same way by ingest (client tokens) and
 * deliver (ops tokens). The scheme is case-insensitive (RFC 9110 §11.1).
 */

const BEARER = "bearer ";

/**
 * The token of a Bearer `authorization` header, or `undefined` if there is no header, another
 * scheme, or no token after it. Checking the token is the caller's.
 *
 * @example
 * bearerToken("Bearer np1.k1.abc"); // "np1.k1.abc"
 * bearerToken("Basic dXNlcjpwYXNz"); // undefined
 */
export function bearerToken(authorization: string | null | undefined): string | undefined {
  if (authorization === null || authorization === undefined) return undefined;
  if (authorization.length <= BEARER.length || authorization.slice(0, BEARER.length).toLowerCase() !== BEARER) {
    return undefined;
  }
  const token = authorization.slice(BEARER.length).trim();
  return token === "" ? undefined : token;
}
