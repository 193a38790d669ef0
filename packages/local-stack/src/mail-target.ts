/**
 * Which MAIL_API_URL means the local provider. Only its own address does: the one the stack gives
 * it, `http://127.0.0.1:<provider port>`, or the same port as `localhost` (the provider binds that
 * port on this machine's loopback, so no other server can hold it while the provider runs, and
 * deliver is then given the 127.0.0.1 form). Every other URL, on this machine or not, is a server
 * of the developer's own (a mock, a staging API, the real one): deliver sends there and the local
 * provider is not started.
 */

/**
 * Whether `url` is the local provider's own address on `providerPort`. Port 0 ("any free port")
 * has no address before the provider listens, so no URL names it.
 *
 * @example
 * isLocalProviderUrl("http://127.0.0.1:8788", 8788); // true
 * isLocalProviderUrl("http://127.0.0.1:9000", 8788); // false: someone else's server
 */
export function isLocalProviderUrl(url: string, providerPort: number): boolean {
  if (providerPort === 0) return false;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return false;
  }
  return (
    parsed.protocol === "http:" &&
    (parsed.hostname === "127.0.0.1" || parsed.hostname === "localhost") &&
    // The URL parser drops a scheme's default port: "http://127.0.0.1:80" has port "".
    (parsed.port === "" ? 80 : Number(parsed.port)) === providerPort &&
    parsed.pathname === "/" &&
    parsed.search === "" &&
    parsed.hash === "" &&
    parsed.username === "" &&
    parsed.password === ""
  );
}

/** Whether deliver can send to `url` at all: it takes an http(s) URL (workers/deliver/src/config.ts). */
export function isHttpUrl(url: string): boolean {
  try {
    const { protocol } = new URL(url);
    return protocol === "http:" || protocol === "https:";
  } catch {
    return false;
  }
}
