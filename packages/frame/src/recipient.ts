/**
 * The recipient rule of frame v1, strict on purpose: an address that passes can be put between
 * JSON quotes without escaping, so upstream bodies may be built from a template.
 * Checked on bytes, before any string exists, with one table lookup per byte.
 */

const LOCAL = 1; // allowed in the local part
const DOMAIN = 2; // allowed in a domain label

const CLASS = new Uint8Array(256);
for (let c = 0x30; c <= 0x39; c++) CLASS[c] = LOCAL | DOMAIN; // 0-9
for (let c = 0x41; c <= 0x5a; c++) CLASS[c] = LOCAL | DOMAIN; // A-Z
for (let c = 0x61; c <= 0x7a; c++) CLASS[c] = LOCAL | DOMAIN; // a-z
for (const ch of "!#$%&'*+/=?^_`{|}~") CLASS[ch.charCodeAt(0)] = LOCAL;
CLASS[0x2d] = LOCAL | DOMAIN; // "-"
CLASS[0x2e] = LOCAL; // "." separates atoms; in the domain it is handled as the label separator

const AT = 0x40;
const DOT = 0x2e;
const HYPHEN = 0x2d;

/**
 * Returns null for a valid address, or one sentence saying what is wrong with it.
 *
 * @example
 * recipientProblem(new TextEncoder().encode("ada@example.com")); // null
 */
export function recipientProblem(bytes: Uint8Array): string | null {
  const length = bytes.length;
  let at = -1;
  for (let i = 0; i < length; i++) {
    if (bytes[i] === AT) {
      if (at !== -1) return "The recipient must contain exactly one @.";
      at = i;
    }
  }
  if (at === -1) return "The recipient must contain exactly one @.";
  if (at === 0 || at > 64) return "The recipient's local part must be 1 to 64 characters.";
  const domainLength = length - at - 1;
  if (domainLength < 1 || domainLength > 253) return "The recipient's domain must be 1 to 253 characters.";

  let previous = DOT; // a leading dot counts as a doubled one
  for (let i = 0; i < at; i++) {
    const b = bytes[i] as number;
    if (((CLASS[b] as number) & LOCAL) === 0) {
      return "The recipient's local part may hold only letters, digits and .!#$%&'*+/=?^_`{|}~-.";
    }
    if (b === DOT && previous === DOT) return "The recipient's local part has a leading or doubled dot.";
    previous = b;
  }
  if (previous === DOT) return "The recipient's local part ends with a dot.";

  let labels = 0;
  let labelStart = at + 1;
  for (let i = at + 1; i <= length; i++) {
    const b = i === length ? DOT : (bytes[i] as number);
    if (b === DOT) {
      const labelLength = i - labelStart;
      if (labelLength < 1 || labelLength > 63) {
        return "Each label of the recipient's domain must be 1 to 63 characters.";
      }
      if (bytes[labelStart] === HYPHEN || bytes[i - 1] === HYPHEN) {
        return "A label of the recipient's domain may not start or end with a hyphen.";
      }
      labels++;
      labelStart = i + 1;
    } else if (((CLASS[b] as number) & DOMAIN) === 0) {
      return "The recipient's domain may hold only letters, digits, hyphens and dots.";
    }
  }
  if (labels < 2) return "The recipient's domain must have at least two labels (example.com).";
  return null;
}

/**
 * The same rule on a string, for clients and config.
 *
 * @example
 * isValidRecipient("ada@example.com"); // true
 */
export function isValidRecipient(address: string): boolean {
  if (address.length < 3 || address.length > 254) return false;
  const bytes = new Uint8Array(address.length);
  for (let i = 0; i < address.length; i++) {
    const code = address.charCodeAt(i);
    if (code > 0x7f) return false;
    bytes[i] = code;
  }
  return recipientProblem(bytes) === null;
}
