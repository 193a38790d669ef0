/**
 * The `send_email` binding stand-in refuses what Cloudflare Email Service documents it refuses, with
 * the documented `code` (src/cloudflare-email-contract.ts), and keeps what it sent.
 */

import { describe, expect, it } from "vitest";
import {
  CloudflareEmailStandIn,
  type CloudflareEmailStandInOptions,
  type CloudflareMessage,
} from "../src/cloudflare-email.ts";
import { CLOUDFLARE_EMAIL_LIMITS } from "../src/contracts.ts";

const ADA = "ada@example.com";

function message(change: Partial<CloudflareMessage> = {}): CloudflareMessage {
  return { from: "notepipe <notes@notepipe.dev>", to: ADA, subject: "Encrypted Note", text: "AAAA\nBBBB", ...change };
}

async function codeOf(send: Promise<unknown>): Promise<string> {
  try {
    await send;
  } catch (error) {
    expect(error).toBeInstanceOf(Error);
    return (error as { code: string }).code;
  }
  return "sent";
}

function binding(options: CloudflareEmailStandInOptions = {}): CloudflareEmailStandIn {
  return new CloudflareEmailStandIn({ verifiedDestinations: [ADA], ...options });
}

describe("the send_email stand-in", () => {
  it("sends a structured message to a verified destination and answers its messageId", async () => {
    const email = binding();
    const result = await email.send(message({ headers: { "X-Notepipe-Note-Id": "n1" } }));
    expect(email.sent).toEqual([
      {
        messageId: result.messageId,
        from: "notes@notepipe.dev",
        to: [ADA],
        subject: "Encrypted Note",
        text: "AAAA\nBBBB",
        headers: { "X-Notepipe-Note-Id": "n1" },
      },
    ]);
  });

  it.each([
    ["no from", { from: "" }, "E_FIELD_MISSING"],
    ["no to", { to: [] }, "E_FIELD_MISSING"],
    ["no subject", { subject: "" }, "E_FIELD_MISSING"],
    ["no body", { text: undefined }, "E_VALIDATION_ERROR"],
    ["a malformed sender", { from: "notepipe" }, "E_VALIDATION_ERROR"],
    ["51 recipients", { to: Array(CLOUDFLARE_EMAIL_LIMITS.recipients + 1).fill(ADA) }, "E_TOO_MANY_RECIPIENTS"],
    ["a subject of 999 characters", { subject: "x".repeat(999) }, "E_VALIDATION_ERROR"],
    ["a sender at a domain not onboarded", { from: "me@example.org" }, "E_SENDER_NOT_VERIFIED"],
    ["a recipient that is no verified destination", { to: "grace@example.com" }, "E_RECIPIENT_NOT_ALLOWED"],
    ["a platform header", { headers: { "Message-ID": "<x@y>" } }, "E_HEADER_NOT_ALLOWED"],
    ["a header that is an API field", { headers: { From: "a@b.c" } }, "E_HEADER_USE_API_FIELD"],
    ["a header name with a space", { headers: { "X-Bad Header": "v" } }, "E_HEADER_NAME_INVALID"],
    ["an empty header value", { headers: { "X-Note": "" } }, "E_HEADER_VALUE_INVALID"],
    ["a header value with a newline", { headers: { "X-Note": "a\r\nBcc: x@y.z" } }, "E_HEADER_VALUE_INVALID"],
    ["a header value over 2,048 bytes", { headers: { "X-Note": "v".repeat(2049) } }, "E_HEADER_VALUE_TOO_LONG"],
  ] as [string, Partial<CloudflareMessage>, string][])(
    "refuses %s with %s, sending nothing",
    async (_, change, code) => {
      const email = binding();
      expect(await codeOf(email.send(message(change)))).toBe(code);
      expect(email.sent).toEqual([]);
    },
  );

  it("refuses custom headers over 16 KB in all", async () => {
    const headers = Object.fromEntries(Array.from({ length: 9 }, (_, i) => [`X-Part-${i}`, "v".repeat(2000)]));
    expect(await codeOf(binding().send(message({ headers })))).toBe("E_HEADERS_TOO_LARGE");
  });

  it("refuses a message over 5 MiB to an address that is no verified destination, up to 25 MiB to one", async () => {
    const onboarded = binding({ onboarded: true });
    const sixMiB = "a".repeat(6 * 1024 * 1024);
    expect(await codeOf(onboarded.send(message({ to: "grace@example.com", text: sixMiB })))).toBe(
      "E_CONTENT_TOO_LARGE",
    );
    expect(await codeOf(onboarded.send(message({ text: sixMiB })))).toBe("sent");
  });

  it("refuses a suppressed recipient once a sending domain is onboarded", async () => {
    expect(await codeOf(binding({ onboarded: true }).send(message({ to: "bounce@example.com" })))).toBe(
      "E_RECIPIENT_SUPPRESSED",
    );
  });

  it("counts a daily limit against addresses other than verified destinations only", async () => {
    const email = binding({ onboarded: true, dailyLimit: 1 });
    expect(await codeOf(email.send(message({ to: "grace@example.com" })))).toBe("sent");
    expect(await codeOf(email.send(message({ to: "grace@example.com" })))).toBe("E_DAILY_LIMIT_EXCEEDED");
    expect(await codeOf(email.send(message()))).toBe("sent");
  });

  it("meets the fates a test sets, in order: a refusal sends nothing, a lost answer sends", async () => {
    const email = binding();
    email.failNext("E_RATE_LIMIT_EXCEEDED", "lose_answer");
    expect(await codeOf(email.send(message()))).toBe("E_RATE_LIMIT_EXCEEDED");
    await expect(email.send(message())).rejects.toThrow("Network connection lost.");
    expect(await codeOf(email.send(message()))).toBe("sent");
    expect(email.sent).toHaveLength(2);
    expect(email.calls).toBe(3);
  });
});
