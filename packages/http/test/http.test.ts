/**
 * What both Workers rely on from their shared plumbing: the JSON error answer and its headers,
 * the 405 with Allow, which Authorization headers carry a bearer token, which Content-Types match,
 * and a body never read past its cap.
 */

import { describe, expect, it, vi } from "vitest";
import { bearerToken, errorResponder, HttpError, hasMediaType, methodNotAllowed, readBodyUpTo } from "../src/index.ts";
import { countingBody } from "../src/testing.ts";

const errorResponse = errorResponder({
  who: "test",
  headers: { "cache-control": "no-store" },
  internalError: () => new HttpError("internal_error", [500, "Something went wrong on our side."]),
});

describe("errorResponder", () => {
  it("answers an HttpError as its code and message with its status, the Worker's headers and its own", async () => {
    const error = new HttpError("rate_limited", [429, "Too many."], { headers: { "retry-after": "60" } });
    const res = errorResponse(error);
    expect(res.status).toBe(429);
    expect(Object.fromEntries(res.headers)).toEqual({
      "cache-control": "no-store",
      "content-type": "application/json",
      "retry-after": "60",
    });
    expect(await res.json()).toEqual({ error: "rate_limited", message: "Too many." });
  });

  it("answers anything else as internal_error and logs its name and message only", async () => {
    const log = vi.spyOn(console, "error").mockImplementation(() => undefined);
    const res = errorResponse(new TypeError("boom", { cause: "a secret" }));
    expect(res.status).toBe(500);
    expect(await res.json()).toEqual({ error: "internal_error", message: "Something went wrong on our side." });
    expect(log.mock.calls).toEqual([["test: unhandled TypeError: boom"]]);
  });

  it("takes a route's own sentence over the table's", () => {
    expect(new HttpError("bad_id", [400, "A table sentence."], { message: "ids[3] is not a note id." }).message).toBe(
      "ids[3] is not a note id.",
    );
  });
});

describe("methodNotAllowed", () => {
  it("throws 405 method_not_allowed naming the methods the path takes, in Allow too", () => {
    expect(methodNotAllowed("GET, HEAD")).toThrow(
      expect.objectContaining({
        code: "method_not_allowed",
        status: 405,
        message: "This path accepts GET, HEAD.",
        headers: { allow: "GET, HEAD" },
      }),
    );
  });
});

describe("bearerToken", () => {
  it.each([
    ["Bearer np1.k1.abc", "np1.k1.abc"],
    ["bearer np1.k1.abc", "np1.k1.abc"],
    ["BEARER  ops-token-0123456789 ", "ops-token-0123456789"],
  ])("reads %j as %j", (header, token) => {
    expect(bearerToken(header)).toBe(token);
  });

  it.each([null, undefined, "", "Bearer", "Bearer ", "Bearer   ", "Basic dXNlcjpwYXNz", "Bearernp1.k1.abc"])(
    "finds no token in %j",
    (header) => {
      expect(bearerToken(header)).toBeUndefined();
    },
  );
});

describe("hasMediaType", () => {
  it.each([
    ["application/json", true],
    ["Application/JSON; charset=utf-8", true],
    [" application/json ;q=1", true],
    ["application/jsonp", false],
    ["text/plain", false],
    [null, false],
    [undefined, false],
  ])("%j is application/json: %s", (header, expected) => {
    expect(hasMediaType(header, "application/json")).toBe(expected);
  });
});

describe("readBodyUpTo", () => {
  const post = (body: BodyInit | null, headers: Record<string, string> = {}) =>
    new Request("https://worker.test/", { method: "POST", body, headers, duplex: "half" } as RequestInit);

  it("reads a body up to the cap whole, into a buffer of its own size", async () => {
    const bytes = await readBodyUpTo(post(new Uint8Array([1, 2, 3])), 3);
    expect(bytes).toEqual(new Uint8Array([1, 2, 3]));
    expect(bytes?.buffer.byteLength).toBe(3);
  });

  it("refuses a declared length over the cap without reading the body", async () => {
    const body = countingBody(1024);
    expect(await readBodyUpTo(post(body.body, { "content-length": "1024" }), 1023)).toBeUndefined();
    expect(body.pulled()).toBe(0);
  });

  it("stops a body with no declared length at the first chunk past the cap, and cancels it", async () => {
    const body = countingBody(4 * 1024 * 1024, 4096);
    expect(await readBodyUpTo(post(body.body), 10_000)).toBeUndefined();
    expect(body.pulled()).toBe(3 * 4096);
    expect(body.cancelled()).toBe(true);
  });

  it("reads no body as empty", async () => {
    expect(await readBodyUpTo(post(null), 10)).toEqual(new Uint8Array(0));
  });
});
