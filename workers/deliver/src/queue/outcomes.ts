/**
 * What can become of one email, and the one table that says what deliver does about each failure.
 * A new failure is one line in {@link DELIVERY_ERRORS}; its code is also added to
 * `DELIVERY_ERROR_CODES` in packages/pipeline (records and dead letters carry it).
 */

import type { DeliveryErrorCode } from "@notepipe/pipeline";

/**
 * - `transient`: retry this note with capped exponential backoff;
 * - `pipeline`: no note is at fault (key, sender, quota): retry the whole batch after a long delay;
 * - `permanent`: this note will never go out as it is: dead-letter it now.
 */
export type FailureClass = "transient" | "pipeline" | "permanent";

interface FailureSpec {
  class: FailureClass;
  /** The provider may have taken the request although it never said so. */
  ambiguous: boolean;
  sentence: string;
}

export const DELIVERY_ERRORS = {
  timeout: { class: "transient", ambiguous: true, sentence: "The mail provider did not answer in time." },
  network_error: {
    class: "transient",
    ambiguous: true,
    sentence: "The connection to the mail provider failed.",
  },
  provider_unavailable: {
    class: "transient",
    ambiguous: true,
    sentence: "The mail provider answered with a server error.",
  },
  rate_limited: { class: "transient", ambiguous: false, sentence: "The mail provider's rate limit was reached." },
  request_in_progress: {
    class: "transient",
    ambiguous: true,
    sentence: "An earlier send of this note is still being processed by the mail provider.",
  },
  auth_failed: { class: "pipeline", ambiguous: false, sentence: "The mail provider refused the API key." },
  sender_not_verified: {
    class: "pipeline",
    ambiguous: false,
    sentence: "The mail provider refused the sender: its domain or signature is not verified.",
  },
  quota_exceeded: {
    class: "pipeline",
    ambiguous: false,
    sentence: "The mail provider's sending quota is used up, or the account may not send.",
  },
  request_invalid: {
    class: "pipeline",
    ambiguous: false,
    sentence: "The mail provider refused the request as a whole; check MAIL_API_URL, MAIL_FROM and MAIL_SUBJECT.",
  },
  config_invalid: { class: "pipeline", ambiguous: false, sentence: "The deliver Worker's mail settings are invalid." },
  unexpected_response: {
    class: "pipeline",
    ambiguous: false,
    sentence: "The mail provider answered in a way deliver does not know.",
  },
  undecodable: { class: "permanent", ambiguous: false, sentence: "The queued message does not hold a valid frame." },
  rejected: { class: "permanent", ambiguous: false, sentence: "The mail provider rejected this email." },
  inactive_recipient: {
    class: "permanent",
    ambiguous: false,
    sentence: "The mail provider will not send to this recipient (an earlier bounce, complaint or suppression).",
  },
  possibly_sent: {
    class: "permanent",
    ambiguous: false,
    sentence: "The mail provider may already have sent this note, so it is not sent again automatically.",
  },
  retries_exhausted: { class: "permanent", ambiguous: false, sentence: "Every retry failed." },
  discarded: { class: "permanent", ambiguous: false, sentence: "An operator discarded this note's dead letter." },
} as const satisfies Record<DeliveryErrorCode, FailureSpec>;

export type SendOutcome =
  | { kind: "accepted"; providerId: string }
  | {
      kind: "failed";
      code: DeliveryErrorCode;
      /** What the provider said, addresses masked; see {@link providerDetail}. */
      detail?: string;
      /** The provider's Retry-After, in seconds. */
      retryAfterSeconds?: number;
    };

export type FailedOutcome = Extract<SendOutcome, { kind: "failed" }>;

export function accepted(providerId: string): SendOutcome {
  return { kind: "accepted", providerId };
}

export function failed(code: DeliveryErrorCode, detail?: string, retryAfterSeconds?: number | null): FailedOutcome {
  const outcome: FailedOutcome = { kind: "failed", code };
  if (detail !== undefined && detail !== "") outcome.detail = detail;
  if (retryAfterSeconds !== undefined && retryAfterSeconds !== null) outcome.retryAfterSeconds = retryAfterSeconds;
  return outcome;
}

export function classOf(code: DeliveryErrorCode): FailureClass {
  return DELIVERY_ERRORS[code].class;
}

export function isAmbiguous(code: DeliveryErrorCode): boolean {
  return DELIVERY_ERRORS[code].ambiguous;
}

/** The sentence a status record and a dead letter carry: ours, then the provider's words. */
export function describe(outcome: FailedOutcome): string {
  const sentence = DELIVERY_ERRORS[outcome.code].sentence;
  return outcome.detail === undefined ? sentence : `${sentence} The provider said: ${outcome.detail}`;
}

/**
 * The forms an "@" takes in a provider's text besides itself: percent-encoded (twice over too), an
 * HTML entity, a JSON or JavaScript escape, full-width, or spelled out in brackets (`jane (at)
 * example (dot) com`, `[at]`, `{at}`, `<at>`). Each becomes "@", and a bracketed dot ".", so that
 * the address is one run of characters again. Whitespace is folded first, so one optional space on
 * either side covers every spacing.
 */
const AT_FORMS = /\s?[([{<]\s?at\s?[)\]}>]\s?|%(?:25)*40|&#0*64;|&#x0*40;|&commat;|\\u0040|\\x40|[\uff20\ufe6b]/gi;
const DOT_FORMS = /\s?[([{<]\s?dot\s?[)\]}>]\s?/gi;
/**
 * A run of what an address may hold: anything but whitespace and the delimiters the recipient rule
 * refuses (`"<>(),;:[]\`), so every character the rule allows in a local part
 * (`.!#$%&'*+/=?^_\`{|}~-`, letters, digits) is inside it, and non-ASCII too.
 */
const RUN = /[^\s"<>(),;:[\]\\]+/g;
const MAX_DETAIL_CHARS = 200;

/**
 * A provider's error message made fit for a status record, a dead letter and a log line: every
 * address masked (Resend's 403 names the account owner's address, Postmark's 300 the recipient),
 * whitespace folded, at most 200 characters. Better a masked word too many: a whole run of
 * characters around an "@" (or one of {@link AT_FORMS}) goes, even half an address ("x@").
 *
 * @example
 * providerDetail("Illegal email address 'jane.o'neil@example.com'"); // "Illegal email address '<address>'"
 */
export function providerDetail(message: unknown): string | undefined {
  if (typeof message !== "string") return undefined;
  const clean = message
    .replace(/\s+/g, " ")
    .replace(AT_FORMS, "@")
    .replace(DOT_FORMS, ".")
    .replace(RUN, maskRun)
    .trim();
  if (clean === "") return undefined;
  return clean.length > MAX_DETAIL_CHARS ? `${clean.slice(0, MAX_DETAIL_CHARS - 1)}…` : clean;
}

/**
 * Masks every address in one run, from the run's start (or the previous address's end) through its
 * domain, which ends at a quote: the rule allows none there, and the local part may hold any. A
 * quote that opens the run and closes right after the domain is the message's own and is kept
 * (`'<address>'`). One pass, no backtracking: provider text is as long as a provider makes it.
 */
function maskRun(run: string): string {
  let masked = "";
  let start = 0;
  for (let at = run.indexOf("@"); at !== -1; at = run.indexOf("@", start)) {
    let end = at + 1;
    while (end < run.length && run[end] !== "'" && run[end] !== "`") end++;
    const open = run[start];
    masked += (open === "'" || open === "`") && run[end] === open ? `${open}<address>` : "<address>";
    start = end;
  }
  return masked + run.slice(start);
}
