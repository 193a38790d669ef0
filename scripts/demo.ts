/**
 * `pnpm demo`: the whole path against a running local stack (`pnpm dev`), as a client and a
 * recipient see it. Encrypts a note with AES-256-GCM (WebCrypto), frames it, posts it with a client
 * token, polls its status until it is sent, shows the email the local provider received, and
 * decrypts that email back to the original text.
 *
 *   pnpm demo [--text "…"] [--to ada@example.com] [--token np2.…] [--ingest-url …] [--provider-url …]
 *
 * Without --token it signs one with the stack's TOKEN_SECRETS, as an operator can; with it, it
 * posts with the token an enrollment gave (README.md, "Enrol an address with curl").
 *
 * Exit codes: 0 the text came back, 1 the stack is down or the note did not make it, 2 bad usage.
 */

import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { encodeFrame, isValidRecipient, noteIdToUuid } from "@notepipe/frame";
import { devTokenSecretsJson, ROOT } from "@notepipe/local-stack";
import { SENT_STATES, type StatusRecord } from "@notepipe/pipeline";
import { parseTokenSecrets, signClientToken } from "@notepipe/token";
import { Command, InvalidArgumentError } from "commander";

/** States after which polling cannot end in `sent`. */
const DEAD_ENDS = new Set(["failed", "dead"]);
const POLL_INTERVAL_MS = 250;

interface InboxEmail {
  id: string;
  from: string;
  to: string[];
  subject: string;
  text: string | null;
  headers: Record<string, string>;
  tags: { name: string; value: string }[];
  noteId: string | null;
  receivedAt: string;
}

class DemoError extends Error {}

function recipient(value: string): string {
  if (!isValidRecipient(value)) throw new InvalidArgumentError("Not an address notepipe accepts.");
  return value;
}

function seconds(value: string): number {
  const parsed = Number(value);
  if (!Number.isFinite(parsed) || parsed <= 0) throw new InvalidArgumentError("Not a positive number.");
  return parsed;
}

const options = new Command("pnpm demo")
  .description("Send one encrypted note through the running local stack and decrypt the email it became.")
  .option("--text <text>", "the note", "Meet me at the old oak at noon. Bring the map.")
  .option("--to <address>", "the recipient", recipient, "ada@example.com")
  .option("--ingest-url <url>", "the ingest Worker (env NOTEPIPE_INGEST_URL)", process.env.NOTEPIPE_INGEST_URL)
  .option("--provider-url <url>", "the local provider (env NOTEPIPE_PROVIDER_URL)", process.env.NOTEPIPE_PROVIDER_URL)
  .option("--key-file <path>", "where the AES key is kept", join(ROOT, ".wrangler", "demo-key.json"))
  .option("--kid <kid>", "which TOKEN_SECRETS key signs the client token (default: the first)")
  .option("--token <token>", "post with this client token (from POST /v1/tokens) instead of signing one")
  .option("--timeout <seconds>", "how long to wait for the note to be sent", seconds, 60)
  .option(
    "--delivered-timeout <seconds>",
    "how long to wait after that for the provider's delivery webhook (0: don't)",
    seconds,
    20,
  )
  .parse()
  .opts<{
    text: string;
    to: string;
    ingestUrl?: string;
    providerUrl?: string;
    keyFile: string;
    kid?: string;
    token?: string;
    timeout: number;
    deliveredTimeout: number;
  }>();

const ingestUrl = (options.ingestUrl ?? "http://127.0.0.1:8787").replace(/\/$/, "");
const providerUrl = (options.providerUrl ?? "http://127.0.0.1:8788").replace(/\/$/, "");

/** A token signed here with the local stack's secret, as `pnpm ops token` does for an operator. */
async function signedToken(to: string, kid: string | undefined): Promise<string> {
  const secrets = parseTokenSecrets(devTokenSecretsJson());
  return signClientToken(secrets, kid ?? (secrets.keys().next().value as string), to);
}

function step(label: string, text: string): void {
  console.log(`${label.padEnd(11)} ${text}`);
}

/** `fetch`, with "the stack is not running" said plainly instead of a bare TypeError. */
async function call(url: string, init?: RequestInit): Promise<Response> {
  try {
    return await fetch(url, { ...init, signal: AbortSignal.timeout(10_000) });
  } catch (error) {
    const code = (error as { cause?: { code?: string } }).cause?.code;
    const what = url.startsWith(ingestUrl) ? "the ingest Worker" : "the local mail provider";
    if (code === "ECONNREFUSED") {
      throw new DemoError(`Nothing answers at ${new URL(url).origin} (${what}). Start the local stack first: pnpm dev`);
    }
    throw new DemoError(`Cannot reach ${what} at ${new URL(url).origin}: ${(error as Error).message}`);
  }
}

async function loadOrCreateKey(path: string): Promise<{ key: CryptoKey; created: boolean }> {
  if (existsSync(path)) {
    const jwk = JSON.parse(readFileSync(path, "utf8")) as JsonWebKey;
    return { key: await crypto.subtle.importKey("jwk", jwk, "AES-GCM", true, ["encrypt", "decrypt"]), created: false };
  }
  const key = await crypto.subtle.generateKey({ name: "AES-GCM", length: 256 }, true, ["encrypt", "decrypt"]);
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, `${JSON.stringify(await crypto.subtle.exportKey("jwk", key))}\n`, { mode: 0o600 });
  return { key, created: true };
}

async function pollUntilSent(id: string, deadline: number): Promise<StatusRecord> {
  const started = Date.now();
  let last = "";
  let lastError: string | undefined;
  while (Date.now() < deadline) {
    const res = await call(`${ingestUrl}/v1/notes/${id}`);
    const body = (await res.json()) as StatusRecord | { error: string; message: string };
    const seen = "state" in body ? body.state : `${body.error} (deliver has written no status yet)`;
    if (seen !== last) {
      const detail = "state" in body && body.error !== undefined ? ` (${body.error})` : "";
      step(last === "" ? "5. status" : "", `${seen}${detail} after ${((Date.now() - started) / 1000).toFixed(1)} s`);
      last = seen;
    }
    if ("state" in body) {
      lastError = body.error;
      if (SENT_STATES.has(body.state)) return body;
      if (DEAD_ENDS.has(body.state)) {
        throw new DemoError(`The note ended ${body.state}: ${body.error ?? "no reason given"}`);
      }
    } else if (res.status !== 404) {
      throw new DemoError(`GET /v1/notes/${id} answered ${res.status}: ${body.message}`);
    }
    await new Promise((resolve) => setTimeout(resolve, POLL_INTERVAL_MS));
  }
  if (last === "retrying") {
    throw new DemoError(`The note was not sent within ${options.timeout} s; deliver is still retrying: ${lastError}`);
  }
  throw new DemoError(
    `The note was not sent within ${options.timeout} s. Is the deliver Worker consuming? See pnpm dev's output.`,
  );
}

/**
 * The local provider posts a signed delivery webhook a moment after it accepted the email (as
 * Resend does once the receiving server took it); the note then moves on from `sent`.
 */
async function waitForDelivery(id: string, deadline: number): Promise<void> {
  const started = Date.now();
  while (Date.now() < deadline) {
    const body = (await (await call(`${ingestUrl}/v1/notes/${id}`)).json()) as Partial<StatusRecord>;
    if (body.state !== undefined && body.state !== "sent" && SENT_STATES.has(body.state)) {
      step("8. webhook", `${body.state} after ${((Date.now() - started) / 1000).toFixed(1)} s more`);
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, POLL_INTERVAL_MS));
  }
  step("8. webhook", `still sent after ${options.deliveredTimeout} s: no delivery webhook reached deliver`);
}

function base64(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString("base64");
}

async function main(): Promise<void> {
  console.log(`notepipe demo: ingest ${ingestUrl}, provider ${providerUrl}\n`);

  const { key, created } = await loadOrCreateKey(options.keyFile);
  const keyPath = relative(process.cwd(), options.keyFile) || options.keyFile;
  step("1. key", `${created ? "generated a new" : "loaded the"} AES-256-GCM key (${keyPath})`);

  const nonce = crypto.getRandomValues(new Uint8Array(12));
  const plaintext = new TextEncoder().encode(options.text);
  const ciphertext = new Uint8Array(await crypto.subtle.encrypt({ name: "AES-GCM", iv: nonce }, key, plaintext));
  step("2. encrypt", `${plaintext.length} bytes of text → ${ciphertext.length} bytes of ciphertext and tag`);

  const noteId = crypto.getRandomValues(new Uint8Array(16));
  const id = noteIdToUuid(noteId);
  const frame = encodeFrame({ noteId, recipient: options.to, nonce, ciphertext });
  step("3. frame", `note ${id} for ${options.to}: ${frame.length} bytes`);

  const token = options.token ?? (await signedToken(options.to, options.kid));
  const posted = await call(`${ingestUrl}/v1/notes`, {
    method: "POST",
    headers: { "content-type": "application/octet-stream", authorization: `Bearer ${token}` },
    // encodeFrame allocates a plain ArrayBuffer; its declared type is only the wider ArrayBufferLike.
    body: frame as Uint8Array<ArrayBuffer>,
  });
  const postBody = await posted.text();
  step("4. post", `POST /v1/notes → ${posted.status} ${postBody}`);
  if (posted.status !== 202) throw new DemoError(`ingest refused the note (${posted.status}).`);

  const status = await pollUntilSent(id, Date.now() + options.timeout * 1000);

  const inboxRes = await call(`${providerUrl}/inbox?note_id=${id}`);
  const { emails } = (await inboxRes.json()) as { emails: InboxEmail[] };
  const email = emails[0];
  if (emails.length !== 1 || email === undefined) {
    throw new DemoError(`The note is ${status.state}, yet the local provider holds ${emails.length} emails for it.`);
  }
  step("6. inbox", `the email as the local provider received it (${providerUrl}/):`);
  console.log(`              id       ${email.id}`);
  console.log(`              from     ${email.from}`);
  console.log(`              to       ${email.to.join(", ")}`);
  console.log(`              subject  ${email.subject}`);
  for (const [name, value] of Object.entries(email.headers)) console.log(`              header   ${name}: ${value}`);
  for (const tag of email.tags) console.log(`              tag      ${tag.name}=${tag.value}`);
  console.log("              text");
  for (const line of (email.text ?? "").split("\n")) console.log(`                ${line}`);

  // The recipient's side: nothing but the email text and the shared key.
  const [nonceText, ciphertextText, ...rest] = (email.text ?? "").split("\n");
  if (nonceText === undefined || ciphertextText === undefined || rest.length > 0) {
    throw new DemoError("The email text is not <base64 nonce>\\n<base64 ciphertext>.");
  }
  const decrypted = new TextDecoder().decode(
    await crypto.subtle.decrypt(
      { name: "AES-GCM", iv: Buffer.from(nonceText, "base64") },
      key,
      Buffer.from(ciphertextText, "base64"),
    ),
  );
  step("7. decrypt", JSON.stringify(decrypted));
  if (decrypted !== options.text) throw new DemoError("The decrypted text differs from the note that was sent.");
  if (base64(nonce) !== nonceText) throw new DemoError("The email carries another nonce than the frame.");

  if (options.deliveredTimeout > 0) await waitForDelivery(id, Date.now() + options.deliveredTimeout * 1000);
  console.log("\ndemo: ok, the email decrypts to the note that was sent.");
}

try {
  await main();
} catch (error) {
  if (!(error instanceof DemoError)) throw error;
  console.error(`\ndemo: ${error.message}`);
  process.exitCode = 1;
}
