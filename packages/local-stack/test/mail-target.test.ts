/**
 * Which MAIL_API_URL starts the local provider: its own address only. Every other URL is a server
 * the developer means deliver to reach, a mock on this machine included.
 */

import { describe, expect, it } from "vitest";
import { isHttpUrl, isLocalProviderUrl } from "../src/mail-target.ts";

describe("the local provider's own URL", () => {
  it.each(["http://127.0.0.1:8788", "http://127.0.0.1:8788/", "http://localhost:8788", "HTTP://LOCALHOST:8788/"])(
    "%s, on provider port 8788, means the local provider",
    (url) => {
      expect(isLocalProviderUrl(url, 8788)).toBe(true);
    },
  );

  it("is the port the stack gives the provider: 127.0.0.1:9000 is its own on provider port 9000", () => {
    expect(isLocalProviderUrl("http://127.0.0.1:9000", 9000)).toBe(true);
    expect(isLocalProviderUrl("http://127.0.0.1:8788", 9000)).toBe(false);
  });
});

describe("any other URL is where deliver sends", () => {
  it.each([
    ["a mock on another loopback port", "http://127.0.0.1:9999"],
    ["another loopback address", "http://127.0.0.2:8788"],
    ["IPv6 loopback, which the provider does not bind", "http://[::1]:8788"],
    ["https on the provider's port", "https://127.0.0.1:8788"],
    ["a path under the provider's port", "http://127.0.0.1:8788/resend"],
    ["a query", "http://127.0.0.1:8788/?x=1"],
    ["credentials", "http://user:pw@127.0.0.1:8788"],
    ["the real API", "https://api.resend.com"],
    ["a host on the network", "http://mail-mock.internal:8788"],
    ["not a URL", "127.0.0.1:8788"],
  ])("%s: %s", (_what, url) => {
    expect(isLocalProviderUrl(url, 8788)).toBe(false);
  });

  it("no URL names a provider asked to listen on any free port (0)", () => {
    expect(isLocalProviderUrl("http://127.0.0.1:0", 0)).toBe(false);
  });
});

describe("a URL deliver can send to", () => {
  it("is http or https", () => {
    expect(["http://127.0.0.1:9999", "https://api.resend.com", "ftp://x", "nope"].map(isHttpUrl)).toEqual([
      true,
      true,
      false,
      false,
    ]);
  });
});
