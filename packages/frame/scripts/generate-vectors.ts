/**
 * Writes packages/frame/vectors/: one .bin file per test vector and vectors.json, the index a client
 * in any language reads (../SPEC.md, "Test vectors").
 *
 *   pnpm exec node packages/frame/scripts/generate-vectors.ts
 *
 * Deterministic: keys, nonces and note ids are SHA-256 digests of fixed labels, plaintexts are fixed
 * strings or a seeded pseudo-random filler, and AES-256-GCM is deterministic for a given key and
 * nonce. test/vectors.test.ts checks that the folder equals what this script builds.
 *
 * Frames are laid out here byte by byte, not with encodeFrame, so that the test which has encodeFrame
 * rebuild every valid vector compares two independent writers, and so that invalid frames (which
 * encodeFrame refuses) come from the same code.
 */

import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { FrameErrorCode } from "../src/index.ts";

export interface ValidVector {
  name: string;
  description: string;
  /** File name inside vectors/. */
  file: string;
  bytes: number;
  /** Lowercase hex SHA-256 of the file. */
  sha256: string;
  input: {
    /** The 16 note id bytes as a lowercase canonical UUID. */
    noteId: string;
    recipient: string;
    /** AES-256 key, 32 bytes. */
    keyHex: string;
    /** AES-GCM IV, 12 bytes; also the frame's nonce field. */
    nonceHex: string;
    /** Encrypted as its UTF-8 bytes, with no additional authenticated data. */
    plaintext: string;
  };
  output: {
    /** AES-GCM output: encrypted plaintext followed by the 16-byte tag; the frame's last field. */
    ciphertextHex: string;
    /** The text body of the email the recipient receives: base64(nonce) LF base64(ciphertext). */
    emailText: string;
  };
}

export interface InvalidVector {
  name: string;
  description: string;
  file: string;
  bytes: number;
  sha256: string;
  /** The code decodeFrame must return, and ingest's 4xx body carries. */
  error: FrameErrorCode;
}

export interface VectorIndex {
  description: string;
  spec: string;
  generator: string;
  encryption: string;
  valid: ValidVector[];
  invalid: InvalidVector[];
}

export interface GeneratedVectors {
  /** File name → contents, vectors.json included. */
  files: Map<string, Uint8Array>;
  index: VectorIndex;
}

const utf8 = new TextEncoder();

async function sha256(bytes: Uint8Array<ArrayBuffer>): Promise<Uint8Array<ArrayBuffer>> {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
}

function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString("hex");
}

function base64(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString("base64");
}

function uuid(id: Uint8Array): string {
  const h = hex(id);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

async function derive(name: string, what: string, length: number): Promise<Uint8Array<ArrayBuffer>> {
  return (await sha256(utf8.encode(`notepipe frame v1 test vector ${name} ${what}`))).slice(0, length);
}

async function encrypt(
  key: Uint8Array<ArrayBuffer>,
  nonce: Uint8Array<ArrayBuffer>,
  plaintext: string,
): Promise<Uint8Array<ArrayBuffer>> {
  const cryptoKey = await crypto.subtle.importKey("raw", key, "AES-GCM", false, ["encrypt"]);
  return new Uint8Array(await crypto.subtle.encrypt({ name: "AES-GCM", iv: nonce }, cryptoKey, utf8.encode(plaintext)));
}

/** mulberry32: a tiny seeded PRNG, so the filler text is the same on every run and machine. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// Some multi-byte words, so a client that encrypts UTF-16 or Latin-1 instead of UTF-8 fails the vectors.
const WORDS = (
  "the note meeting moved to Thursday bring the keys and café receipts naïve plan Grüße from Zürich budget " +
  "€120 draft reply before noon 🔐 password hint 東京 flight gate B12 call me after eight list milk"
).split(" ");

/** Words from a seeded PRNG, padded with dots to exactly `byteLength` UTF-8 bytes. */
function fillerText(seed: number, byteLength: number): string {
  const random = mulberry32(seed);
  let text = "";
  let used = 0;
  for (;;) {
    const word = WORDS[Math.floor(random() * WORDS.length)] as string;
    const piece = text === "" ? word : `${random() < 0.1 ? ".\n" : " "}${word}`;
    const pieceBytes = utf8.encode(piece).length;
    if (used + pieceBytes > byteLength) break;
    text += piece;
    used += pieceBytes;
  }
  return text + ".".repeat(byteLength - used);
}

interface Layout {
  magic?: [number, number];
  version?: number;
  flags?: number;
  noteId: Uint8Array;
  /** Defaults to the recipient's byte length, big-endian. */
  recipientLengthField?: [number, number];
  recipient: Uint8Array;
  nonce: Uint8Array;
  ciphertext: Uint8Array;
}

/** The frame v1 layout written out field by field (SPEC.md, "Layout"), with any field overridable. */
function layout(f: Layout): Uint8Array<ArrayBuffer> {
  const n = f.recipient.length;
  const header = [
    ...(f.magic ?? [0x4e, 0x50]),
    f.version ?? 1,
    f.flags ?? 0,
    ...f.noteId,
    ...(f.recipientLengthField ?? [n >> 8, n & 0xff]),
  ];
  const out = new Uint8Array(header.length + n + f.nonce.length + f.ciphertext.length);
  out.set(header, 0);
  out.set(f.recipient, header.length);
  out.set(f.nonce, header.length + n);
  out.set(f.ciphertext, header.length + n + f.nonce.length);
  return out;
}

/** A 254-byte address: 64-byte local part, "@", labels of 63, 63 and 61 bytes (a 189-byte domain). */
const LONGEST_RECIPIENT = `${"l".repeat(64)}@${"a".repeat(63)}.${"b".repeat(63)}.${"c".repeat(61)}`;
/** One byte over: the last label is 62 bytes. */
const TOO_LONG_RECIPIENT = `${"l".repeat(64)}@${"a".repeat(63)}.${"b".repeat(63)}.${"c".repeat(62)}`;
/** Every character the local part allows besides letters and digits. */
const SPECIAL_RECIPIENT = "!#$%&'*+/=?^_`{|}~-.Az09@sub-domain.example.org";

interface ValidSpec {
  name: string;
  description: string;
  recipient: string;
  plaintext: string;
}

const MAX_SIZE_RECIPIENT = "max@example.com";
/** Fills the frame to exactly 65,536 bytes: 22 header + 15 recipient + 12 nonce + 16 tag. */
const MAX_SIZE_PLAINTEXT_BYTES = 65_536 - 22 - MAX_SIZE_RECIPIENT.length - 12 - 16;

const VALID: ValidSpec[] = [
  {
    name: "minimal",
    description: 'The smallest valid frame, 56 bytes: the shortest valid address "a@b.c" and a 1-byte plaintext.',
    recipient: "a@b.c",
    plaintext: "x",
  },
  {
    name: "typical-note",
    description: "A typical note: 1,600 bytes of UTF-8 plaintext, some of it multi-byte.",
    recipient: "ada.lovelace@example.com",
    plaintext: fillerText(1, 1600),
  },
  {
    name: "note-16k",
    description: "A 16 KiB note: 16,384 bytes of UTF-8 plaintext.",
    recipient: "grace.hopper@navy.example",
    plaintext: fillerText(2, 16_384),
  },
  {
    name: "max-size",
    description: "A frame of exactly 65,536 bytes, the largest allowed.",
    recipient: MAX_SIZE_RECIPIENT,
    plaintext: fillerText(3, MAX_SIZE_PLAINTEXT_BYTES),
  },
  {
    name: "special-local-part",
    description: "A local part holding every allowed character besides letters and digits, dot included.",
    recipient: SPECIAL_RECIPIENT,
    plaintext: "Every special character is allowed, and none of them needs escaping in a JSON string.",
  },
  {
    name: "longest-recipient",
    description: "A 254-byte recipient: 64-byte local part, 63-byte labels.",
    recipient: LONGEST_RECIPIENT,
    plaintext: "The longest address the frame can carry.",
  },
  {
    name: "mixed-case-recipient",
    description: "The recipient is carried and decoded as sent; only the token binding lowercases it.",
    recipient: "Ada.Lovelace@Example.COM",
    plaintext: "Case is preserved.",
  },
];

interface InvalidSpec {
  name: string;
  description: string;
  error: FrameErrorCode;
  frame: Uint8Array<ArrayBuffer>;
}

function invalidSpecs(base: Layout, minimal: Uint8Array, oversized: Uint8Array<ArrayBuffer>): InvalidSpec[] {
  const withRecipient = (recipient: string | Uint8Array): Uint8Array<ArrayBuffer> =>
    layout({ ...base, recipient: typeof recipient === "string" ? utf8.encode(recipient) : recipient });
  const recipientCase = (name: string, description: string, recipient: string | Uint8Array): InvalidSpec => ({
    name,
    description,
    error: "bad_recipient",
    frame: withRecipient(recipient),
  });
  const latin1Bytes = (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0));
  const recipientEnd = 22 + base.recipient.length;
  const longest = utf8.encode(LONGEST_RECIPIENT);

  return [
    {
      name: "json-body",
      description: 'A JSON body posted by mistake: {"to":"a@b.c"}.',
      error: "bad_magic",
      frame: utf8.encode('{"to":"a@b.c"}'),
    },
    {
      name: "swapped-magic",
      description: 'Magic "PN" instead of "NP".',
      error: "bad_magic",
      frame: layout({ ...base, magic: [0x50, 0x4e] }),
    },
    {
      name: "version-0",
      description: "Version byte 0x00.",
      error: "unsupported_version",
      frame: layout({ ...base, version: 0 }),
    },
    {
      name: "version-2",
      description: "Version byte 0x02.",
      error: "unsupported_version",
      frame: layout({ ...base, version: 2 }),
    },
    {
      name: "flags-01",
      description: "Flags byte 0x01.",
      error: "unsupported_flags",
      frame: layout({ ...base, flags: 0x01 }),
    },
    {
      name: "flags-80",
      description: "Flags byte 0x80.",
      error: "unsupported_flags",
      frame: layout({ ...base, flags: 0x80 }),
    },
    { name: "empty", description: "No bytes at all.", error: "truncated", frame: new Uint8Array(0) },
    { name: "one-byte", description: 'Only "N".', error: "truncated", frame: minimal.slice(0, 1) },
    {
      name: "one-wrong-byte",
      description: "A single byte that is not 0x4E: the magic is checked only once both its bytes are present.",
      error: "truncated",
      frame: Uint8Array.of(0x00),
    },
    { name: "magic-only", description: 'Only "NP".', error: "truncated", frame: minimal.slice(0, 2) },
    {
      name: "no-flags",
      description: "Magic and version, no flags byte.",
      error: "truncated",
      frame: minimal.slice(0, 3),
    },
    {
      name: "inside-header",
      description: "21 of the 22 header bytes.",
      error: "truncated",
      frame: minimal.slice(0, 21),
    },
    {
      name: "header-only",
      description: "The 22-byte header and nothing else.",
      error: "truncated",
      frame: minimal.slice(0, 22),
    },
    {
      name: "inside-recipient",
      description: "Ends after 3 of the 15 recipient bytes.",
      error: "truncated",
      frame: withRecipient("ada@example.com").slice(0, 25),
    },
    {
      name: "inside-bad-recipient",
      description:
        "Ends inside a recipient whose first bytes are already invalid: the recipient is checked only once complete.",
      error: "truncated",
      frame: withRecipient("a b@example.com").slice(0, 25),
    },
    {
      name: "inside-nonce",
      description: "Ends after 11 of the 12 nonce bytes.",
      error: "truncated",
      frame: withRecipient("ada@example.com").slice(0, recipientEnd + 11),
    },
    {
      name: "after-longest-recipient",
      description: "A valid 254-byte recipient, then the frame ends.",
      error: "truncated",
      frame: withRecipient(longest).slice(0, 22 + longest.length),
    },
    recipientCase("no-at", "No @.", "ada.example.com"),
    recipientCase("two-at", "Two @.", "ada@lovelace@example.com"),
    recipientCase("empty-local-part", "Nothing before the @.", "@example.com"),
    recipientCase("empty-domain", "Nothing after the @.", "ada@"),
    recipientCase("leading-dot", "The local part starts with a dot.", ".ada@example.com"),
    recipientCase("trailing-dot", "The local part ends with a dot.", "ada.@example.com"),
    recipientCase("double-dot", "The local part has two dots in a row.", "ada..lovelace@example.com"),
    recipientCase("label-leading-hyphen", "A domain label starts with a hyphen.", "ada@-example.com"),
    recipientCase("label-trailing-hyphen", "A domain label ends with a hyphen.", "ada@example-.com"),
    recipientCase("one-label-domain", "The domain has one label.", "ada@localhost"),
    recipientCase("domain-trailing-dot", "The domain ends with a dot (an empty label).", "ada@example.com."),
    recipientCase("domain-underscore", "An underscore in the domain.", "ada@my_host.example.com"),
    recipientCase("space", "A space in the local part.", "ada lovelace@example.com"),
    recipientCase("quote", "A quoted local part.", '"ada"@example.com'),
    recipientCase("backslash", "A backslash in the local part.", "ada\\x@example.com"),
    recipientCase("control", "A line feed in the local part.", "ada\n@example.com"),
    recipientCase("non-ascii", 'A non-ASCII letter, "é" as UTF-8 (C3 A9).', "adé@example.com"),
    recipientCase("latin1-byte", 'A non-ASCII byte, "é" as Latin-1 (E9).', latin1Bytes("ad\u00e9@example.com")),
    recipientCase("local-part-65", "A 65-byte local part.", `${"l".repeat(65)}@example.com`),
    recipientCase("label-64", "A 64-byte domain label.", `ada@${"a".repeat(64)}.com`),
    {
      name: "length-0",
      description: "Recipient length field 0.",
      error: "bad_recipient",
      frame: layout({ ...base, recipient: new Uint8Array(0) }),
    },
    {
      name: "length-2",
      description: 'Recipient length field 2 ("a@"), below the minimum of 3.',
      error: "bad_recipient",
      frame: withRecipient("a@"),
    },
    {
      name: "length-255",
      description: "A 255-byte recipient, above the maximum of 254 (otherwise well formed).",
      error: "bad_recipient",
      frame: withRecipient(TOO_LONG_RECIPIENT),
    },
    {
      name: "length-little-endian",
      description: 'The length of "ada@example.com" (15) written little-endian: 0x0F00 = 3,840.',
      error: "bad_recipient",
      frame: layout({ ...base, recipient: utf8.encode("ada@example.com"), recipientLengthField: [15, 0] }),
    },
    {
      name: "before-short-nonce",
      description: "An invalid recipient in a frame that also ends inside the nonce: the recipient is checked first.",
      error: "bad_recipient",
      frame: withRecipient("ada@localhost").slice(0, 22 + 13 + 5),
    },
    {
      name: "no-ciphertext",
      description: "Nothing after the nonce.",
      error: "empty_ciphertext",
      frame: layout({ ...base, ciphertext: new Uint8Array(0) }),
    },
    {
      name: "tag-only",
      description: "16 bytes after the nonce: an AES-GCM tag and no encrypted byte.",
      error: "empty_ciphertext",
      frame: layout({ ...base, ciphertext: base.ciphertext.slice(0, 16) }),
    },
    {
      name: "65537-bytes",
      description: "A well-formed frame one byte over the 65,536-byte limit.",
      error: "frame_too_large",
      frame: oversized,
    },
  ];
}

interface Built {
  input: ValidVector["input"];
  output: ValidVector["output"];
  parts: Layout;
  frame: Uint8Array<ArrayBuffer>;
}

async function build(spec: ValidSpec): Promise<Built> {
  const noteId = await derive(spec.name, "note id", 16);
  const key = await derive(spec.name, "key", 32);
  const nonce = await derive(spec.name, "nonce", 12);
  const ciphertext = await encrypt(key, nonce, spec.plaintext);
  const parts: Layout = { noteId, recipient: utf8.encode(spec.recipient), nonce, ciphertext };
  return {
    input: {
      noteId: uuid(noteId),
      recipient: spec.recipient,
      keyHex: hex(key),
      nonceHex: hex(nonce),
      plaintext: spec.plaintext,
    },
    output: { ciphertextHex: hex(ciphertext), emailText: `${base64(nonce)}\n${base64(ciphertext)}` },
    parts,
    frame: layout(parts),
  };
}

/** Builds every vector in memory; writes nothing. */
export async function buildVectors(): Promise<GeneratedVectors> {
  const files = new Map<string, Uint8Array>();
  const index: VectorIndex = {
    description:
      "notepipe frame v1 test vectors. Every frame is one .bin file in this folder; see SPEC.md, Test vectors.",
    spec: "../SPEC.md",
    generator: "../scripts/generate-vectors.ts",
    encryption:
      "AES-256-GCM, 12-byte IV (the frame's nonce), 128-bit tag appended to the ciphertext, no additional authenticated data",
    valid: [],
    invalid: [],
  };

  for (const spec of VALID) {
    const { input, output, frame } = await build(spec);
    const file = `valid-${spec.name}.bin`;
    files.set(file, frame);
    const sha = hex(await sha256(frame));
    index.valid.push({
      name: spec.name,
      description: spec.description,
      file,
      bytes: frame.length,
      sha256: sha,
      input,
      output,
    });
  }

  // Invalid frames reuse real parts, so each one has a single defect.
  const base = (await build({ name: "invalid", description: "", recipient: "ada@example.com", plaintext: "hello" }))
    .parts;
  const oversized = await build({
    name: "oversized",
    description: "",
    recipient: MAX_SIZE_RECIPIENT,
    plaintext: fillerText(4, MAX_SIZE_PLAINTEXT_BYTES + 1),
  });
  const minimal = files.get("valid-minimal.bin") as Uint8Array;

  for (const spec of invalidSpecs(base, minimal, oversized.frame)) {
    const file = `invalid-${spec.error.replaceAll("_", "-")}-${spec.name}.bin`;
    if (files.has(file)) throw new Error(`Two vectors named ${file}`);
    files.set(file, spec.frame);
    index.invalid.push({
      name: spec.name,
      description: spec.description,
      file,
      bytes: spec.frame.length,
      sha256: hex(await sha256(spec.frame)),
      error: spec.error,
    });
  }

  files.set("vectors.json", utf8.encode(`${JSON.stringify(index, null, 2)}\n`));
  return { files, index };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const dir = fileURLToPath(new URL("../vectors/", import.meta.url));
  const { files } = await buildVectors();
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir);
  for (const [name, bytes] of files) writeFileSync(`${dir}${name}`, bytes);
  console.log(`Wrote ${files.size} files to ${dir}`);
}
