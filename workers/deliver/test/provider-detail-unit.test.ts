/**
 * What deliver writes from a provider's words (status records, dead letters, logs) never holds the
 * address it names: every address the recipient rule allows, in every quoting and spelling a
 * provider may use, becomes `<address>` and the rest of the message stays as it was.
 */

import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { validRecipient } from "../../../packages/frame/test/arbitraries.ts";
import { DELIVERY_ERRORS, describe as describeFailure, failed, providerDetail } from "../src/queue/outcomes.ts";
import { bouncedSentence } from "../src/webhooks/apply-event.ts";

/** How an address may sit in a message, and how the masked message must read. */
const QUOTINGS: [name: string, quote: (address: string) => string, masked: string][] = [
  ["bare", (a) => a, "<address>"],
  ["in single quotes", (a) => `'${a}'`, "'<address>'"],
  ["in double quotes", (a) => `"${a}"`, '"<address>"'],
  ["in backticks", (a) => `\`${a}\``, "`<address>`"],
  ["in angle brackets", (a) => `<${a}>`, "<<address>>"],
  ["in parentheses", (a) => `(${a})`, "(<address>)"],
  ["in square brackets", (a) => `[${a}]`, "[<address>]"],
  ["with a display name", (a) => `Jane Doe <${a}>`, "Jane Doe <<address>>"],
  ["as a mailto: link", (a) => `mailto:${a}`, "mailto:<address>"],
  ["before a comma", (a) => `${a},`, "<address>,"],
  // The rule allows no trailing dot in a domain, so a full stop may go with it, as it always did.
  ["ending a sentence", (a) => `${a}.`, "<address>"],
];

/** The spellings of the address itself: its "@" (and dots) as providers and people write them. */
const SPELLINGS: [name: string, spell: (local: string, domain: string) => string][] = [
  ["plain", (l, d) => `${l}@${d}`],
  ["%40", (l, d) => `${l}%40${d}`],
  ["%2540 (percent-encoded twice)", (l, d) => `${l}%2540${d}`],
  ["percent-encoded whole", (l, d) => encodeURIComponent(`${l}@${d}`)],
  ["&#64;", (l, d) => `${l}&#64;${d}`],
  ["&#x40;", (l, d) => `${l}&#x40;${d}`],
  ["&commat;", (l, d) => `${l}&commat;${d}`],
  ["\\u0040", (l, d) => `${l}\\u0040${d}`],
  ["full-width ＠", (l, d) => `${l}＠${d}`],
  ["(at)", (l, d) => `${l}(at)${d}`],
  [" [at] ", (l, d) => `${l} [at] ${d}`],
  [" {AT} ", (l, d) => `${l} {AT} ${d}`],
  ["<at>", (l, d) => `${l}<at>${d}`],
  [" (at) … (dot) ", (l, d) => `${l} (at) ${d.replaceAll(".", " (dot) ")}`],
  ["[at] … [dot]", (l, d) => `${l}[at]${d.replaceAll(".", "[dot]")}`],
];

/** Words around the address: a provider's own sentences, or random lowercase ones. */
const words = fc.array(fc.stringMatching(/^[a-z0-9]{1,8}$/), { maxLength: 8 }).map((list) => list.join(" "));
const prefix = fc.oneof(
  fc.constantFrom("", "Illegal email address ", "550 5.1.1 ", "Found inactive addresses: ", "Invalid `to` field: "),
  words.map((text) => (text === "" ? "" : `${text} `)),
);
const suffix = fc.oneof(
  fc.constantFrom("", " is not a verified sender signature.", ": mailbox unavailable", " (code 300)"),
  words.map((text) => (text === "" ? "" : ` ${text}`)),
);
const address = validRecipient.map((text) => {
  const at = text.indexOf("@");
  return { local: text.slice(0, at), domain: text.slice(at + 1) };
});

function fold(text: string): string {
  return text.replace(/\s+/g, " ").trim();
}

describe("providerDetail", () => {
  it("masks every address the recipient rule allows, in every quoting and spelling, and keeps the rest", () => {
    fc.assert(
      fc.property(
        address,
        fc.constantFrom(...QUOTINGS),
        fc.constantFrom(...SPELLINGS),
        prefix,
        suffix,
        ({ local, domain }, [, quote, masked], [, spell], before, after) => {
          const message = `${before}${quote(spell(local, domain))}${after}`;
          const expected = fold(`${before}${masked}${after}`);

          expect(providerDetail(message)).toBe(expected);
          // …and so in every sentence deliver writes from it.
          expect(describeFailure(failed("rejected", providerDetail(message)))).toBe(
            `${DELIVERY_ERRORS.rejected.sentence} The provider said: ${expected}`,
          );
          expect(bouncedSentence(message)).toBe(
            `The recipient's mail server refused the email. The provider said: ${expected}`,
          );
        },
      ),
      { seed: 0x6d61736b, numRuns: 5_000 },
    );
  });

  it.each([
    [
      "an apostrophe in the local part",
      "Illegal email address 'jane.o'neil@example.com'.",
      "Illegal email address '<address>'.",
    ],
    ["a backtick in the local part", "Invalid `to`: `jane`doe@example.com`", "Invalid `to`: `<address>`"],
    ["every special the rule allows", "to !#$%&'*+/=?^_`{|}~-.x@example.com failed", "to <address> failed"],
    ["%40", "no mailbox jane.o'neil%40example.com here", "no mailbox <address> here"],
    ["(at) and (dot)", "write to jane (at) example (dot) com", "write to <address>"],
    ["two addresses in one run", "a@b.example'c@d.example", "<address><address>"],
  ])("masks %s", (_, message, expected) => {
    expect(providerDetail(message)).toBe(expected);
  });

  it("keeps a message without an address as the provider wrote it, whitespace folded", () => {
    expect(providerDetail("  Rate limit\n exceeded (at most 2 requests/s).  ")).toBe(
      "Rate limit exceeded (at most 2 requests/s).",
    );
  });
});
