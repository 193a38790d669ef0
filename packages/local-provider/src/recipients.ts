/**
 * Which addresses the local provider takes, and which it refuses for good.
 *
 * The refusal rule, so that tests can make one note of a batch fail permanently:
 * - every address at a domain under `.invalid` (reserved never to resolve, RFC 2606 §2), and
 * - every `bounce@…` mailbox, also with a `+tag` (`bounce+anything@example.com`),
 * case-insensitively. Resend answers these in the batch's `errors` (permissive) or with a 422
 * (strict); Postmark with `ErrorCode` 406 for that message.
 */

import { isValidRecipient } from "@notepipe/frame";

/** `Name <addr@example.com>` or `addr@example.com`, as both APIs accept in `from` and `to`. */
const NAMED_ADDRESS = /^[^<>]*<([^<>]+)>$/;

/**
 * The bare address inside a mailbox string, or `null` if it is not one. Addresses are checked with
 * notepipe's own recipient rule: stricter than either API, and every address notepipe sends passes it.
 *
 * @example
 * mailboxAddress("notepipe <notes@notepipe.dev>"); // "notes@notepipe.dev"
 */
export function mailboxAddress(mailbox: string): string | null {
  const named = NAMED_ADDRESS.exec(mailbox.trim());
  const address = named === null ? mailbox.trim() : (named[1] as string).trim();
  return isValidRecipient(address) ? address : null;
}

/**
 * Why the provider refuses `address` for good, or `null` if it takes it.
 *
 * @example
 * refusalReason("ada@example.invalid"); // "… is at a .invalid domain …"
 */
export function refusalReason(address: string): string | null {
  const at = address.lastIndexOf("@");
  const local = address.slice(0, at).toLowerCase();
  const domain = address.slice(at + 1).toLowerCase();
  if (domain.endsWith(".invalid")) {
    return `The recipient ${address} is at a .invalid domain; the local provider refuses those.`;
  }
  if (local === "bounce" || local.startsWith("bounce+")) {
    return `The recipient ${address} is a bounce@ mailbox; the local provider refuses those.`;
  }
  return null;
}
