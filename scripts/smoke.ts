/**
 * `pnpm smoke <ingest-url>`: after a deploy, proves the live pipeline end to end for an address the
 * operator reads, with the client SDK as an app would use it: enrols the address (or takes its
 * token), encrypts and posts one note, waits until the mail provider took it (and until its delivery
 * webhook came back, with --expect-delivered), and checks that the ops API answers with the ops
 * token. One line per step; the first step that fails ends the run, named, with the server's error
 * code and message. No token is ever printed.
 *
 *   pnpm smoke https://notes.example.com --to you@example.com --ops-token … [--expect-delivered]
 *   pnpm smoke http://127.0.0.1:8787 --to ada@example.com --token "$(pnpm -s token ada@example.com)" --ops-token …
 *
 * Exit codes: 0 every step passed, 1 a step failed (the last line names it), 2 bad usage.
 */

import { execFile } from "node:child_process";
import { createInterface } from "node:readline/promises";
import { promisify } from "node:util";
import {
  type ClientConfig,
  confirmCode,
  generateKey,
  MemoryPendingStore,
  NotepipeError,
  requestCode,
  resumeOnOpen,
  send,
} from "@notepipe/client";
import { isValidRecipient } from "@notepipe/frame";
import { CliError, OpsClient } from "@notepipe/ops-cli";
import { type NoteState, SENT_STATES } from "@notepipe/pipeline";
import { Command, CommanderError, InvalidArgumentError } from "commander";

/**
 * A status poll a second, as a screen following a note it just sent does: within what ingest's
 * STATUS_LIMITER plans for (wrangler.ingest.toml: under 10 polls in 10 s), and each poll is one KV
 * read on the deployment's bill, so a 60 s wait costs 60 at most.
 */
const POLL_INTERVAL_MS = 1000;
/** An enrollment code is valid for 10 minutes (README.md, "Enrollment"): longer is no use. */
const CODE_WAIT_MS = 10 * 60_000;

function recipient(value: string): string {
  if (!isValidRecipient(value)) throw new InvalidArgumentError("Not an address notepipe accepts.");
  return value;
}

function seconds(value: string): number {
  const parsed = Number(value);
  if (!Number.isFinite(parsed) || parsed <= 0 || parsed > 3600) {
    throw new InvalidArgumentError("Give a number of seconds from 1 to 3600.");
  }
  return parsed;
}

function ingestOrigin(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new InvalidArgumentError("Not a URL; give the ingest Worker's, e.g. https://notes.example.com.");
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") throw new InvalidArgumentError("Not an http(s) URL.");
  return url.origin + url.pathname.replace(/\/+$/, "");
}

interface SmokeOptions {
  to: string;
  token?: string;
  codeFrom?: string;
  opsToken?: string;
  expectDelivered?: boolean;
  timeout: number;
}

const program = new Command("pnpm smoke")
  .description("Prove a notepipe deployment end to end: enrol, post one encrypted note, see it sent, ask the ops API.")
  .argument("<ingest-url>", "the ingest Worker's address, e.g. https://notes.example.com", ingestOrigin)
  .requiredOption("--to <address>", "an address you read: the note (and an enrollment code) goes there", recipient)
  .option("--token <token>", "the address's client token, instead of enrolling it (env NOTEPIPE_TOKEN)")
  .option(
    "--code-from <command>",
    "a shell command that prints the emailed code, run with NOTEPIPE_SMOKE_TO set (default: ask on the terminal, else read a line from stdin)",
  )
  .option("--ops-token <token>", "a token of the deliver Worker's OPS_TOKENS (env NOTEPIPE_OPS_TOKEN)")
  .option("--expect-delivered", "wait on from sent to delivered: the provider's delivery webhooks are set up")
  .option("--timeout <seconds>", "how long each wait (sent, delivered, --code-from) may take", seconds, 60)
  .exitOverride()
  .configureOutput({ outputError: (text, write) => write(`smoke: ${text.replace(/^error: /, "")}`) });

let ingestUrl: string;
let options: SmokeOptions;
try {
  program.parse();
  [ingestUrl] = program.processedArgs as [string];
  options = program.opts<SmokeOptions>();
} catch (error) {
  if (!(error instanceof CommanderError)) throw error;
  process.exit(error.exitCode === 0 ? 0 : 2);
}
const token = options.token ?? process.env.NOTEPIPE_TOKEN;
const opsToken = options.opsToken ?? process.env.NOTEPIPE_OPS_TOKEN ?? "";
if (opsToken === "") {
  console.error("smoke: no ops token: give --ops-token or set NOTEPIPE_OPS_TOKEN.");
  process.exit(2);
}

/** A step's failure, in one line: what happened, and the server's code and message when it said them. */
class StepFailure extends Error {}

/** Ends the run after a step failed and said so. */
class RunFailed extends Error {}

/** Why a call failed, as the server said it (`code: message`) or as the SDK and ops client word it. */
function reason(error: unknown): string {
  if (error instanceof NotepipeError) return `${error.code}: ${error.message}`;
  if (error instanceof CliError) return `${error.kind}: ${error.message}`;
  if (error instanceof StepFailure) return error.message;
  return error instanceof Error ? error.message : String(error);
}

const runStarted = performance.now();
let passed = 0;

/** Runs one step and prints its line; a failure ends the run, exit code 1, naming the step. */
async function step(name: string, run: () => Promise<string>): Promise<void> {
  const started = performance.now();
  const took = () => `${((performance.now() - started) / 1000).toFixed(1).padStart(5)} s`;
  let detail: string;
  try {
    detail = await run();
  } catch (error) {
    console.log(`✗ ${name.padEnd(10)} ${took()}  ${reason(error)}`);
    throw new RunFailed(`smoke: failed at step "${name}" after ${passed} passed.`);
  }
  console.log(`✓ ${name.padEnd(10)} ${took()}  ${detail}`);
  passed++;
}

/** The emailed code: from --code-from's output, typed on the terminal, or the first line of stdin. */
async function readCode(to: string): Promise<string> {
  if (options.codeFrom !== undefined) {
    try {
      const { stdout } = await promisify(execFile)("/bin/sh", ["-c", options.codeFrom], {
        env: { ...process.env, NOTEPIPE_SMOKE_TO: to },
        timeout: options.timeout * 1000,
      });
      return stdout.trim();
    } catch (error) {
      const { code, stderr, killed } = error as { code?: number; stderr?: string; killed?: boolean };
      const said = stderr?.trim().split("\n").at(-1);
      throw new StepFailure(
        killed
          ? `--code-from printed no code within ${options.timeout} s`
          : `--code-from exited ${code}${said ? `: ${said}` : ""}`,
      );
    }
  }
  const terminal = process.stdin.isTTY === true;
  const lines = createInterface({ input: process.stdin, ...(terminal ? { output: process.stdout } : {}), terminal });
  try {
    const ended = new Promise<never>((_resolve, reject) => {
      lines.once("close", () => reject(new StepFailure("stdin ended before a code was given")));
    });
    const prompt = terminal ? `  the code emailed to ${to}: ` : "";
    return await Promise.race([lines.question(prompt, { signal: AbortSignal.timeout(CODE_WAIT_MS) }), ended]);
  } catch (error) {
    if (error instanceof Error && error.name === "AbortError") {
      throw new StepFailure(`no code within ${CODE_WAIT_MS / 60_000} minutes`);
    }
    throw error;
  } finally {
    lines.close();
  }
}

/**
 * Polls the note through the SDK's `resumeOnOpen` (one `POST /v1/notes/status`) until `done` says
 * so, or a state it can no longer leave for one that would; `what` words the wait for the failure.
 */
async function waitForState(
  client: ClientConfig & { store: MemoryPendingStore },
  id: string,
  done: (state: string) => boolean,
  what: string,
): Promise<string> {
  const deadline = Date.now() + options.timeout * 1000;
  let state = "pending";
  let error: string | undefined;
  for (;;) {
    const { changes, pending } = await resumeOnOpen(client);
    const seen = changes.find((change) => change.id === id) ?? pending.find((note) => note.id === id);
    if (seen !== undefined) {
      state = seen.state;
      error = seen.error;
    }
    if (done(state)) return state;
    const final = changes.find((change) => change.id === id)?.final === true;
    if (final) throw new StepFailure(`the note ended ${state}${error ? `: ${error}` : ""}`);
    if (Date.now() + POLL_INTERVAL_MS > deadline) {
      const why = state === "pending" ? " (deliver has written no status for it)" : error ? `: ${error}` : "";
      throw new StepFailure(`not ${what} within ${options.timeout} s; it is ${state}${why}`);
    }
    await new Promise((resolve) => setTimeout(resolve, POLL_INTERVAL_MS));
  }
}

async function main(to: string): Promise<void> {
  console.log(`notepipe smoke: ${ingestUrl}, a note to ${to}`);
  // Fewer, shorter retries than an app's: a step's failure should show within its timeout.
  const connection = { endpoint: ingestUrl, retry: { attempts: 3, maxDelayMs: 2_000, timeoutMs: 10_000 } };

  let clientToken = token;
  if (clientToken === undefined || clientToken === "") {
    await step("code", async () => {
      await requestCode(connection, to);
      return `POST /v1/tokens/code: a code is on its way to ${to}`;
    });
    await step("enrol", async () => {
      clientToken = await confirmCode(connection, to, await readCode(to));
      return `POST /v1/tokens: the code bought ${to}'s client token`;
    });
  }

  // Its polls carry the token, as an app's do: counted as this client's, not its network's.
  const client = { ...connection, store: new MemoryPendingStore(), pollAs: { to, token: clientToken as string } };
  let id = "";
  await step("post", async () => {
    const key = await generateKey();
    // The key is thrown away: the email proves delivery by its note id, not by what it says.
    const text = `notepipe smoke test, ${new Date().toISOString()}`;
    id = await send(client, { to, text, key, token: clientToken as string });
    return `POST /v1/notes → 202: note ${id}, encrypted with a fresh AES-256-GCM key`;
  });

  await step("sent", async () => {
    const state = await waitForState(client, id, (seen) => SENT_STATES.has(seen as NoteState), "sent");
    return `the mail provider took it (${state})`;
  });

  if (options.expectDelivered) {
    await step("delivered", async () => {
      await waitForState(client, id, (seen) => seen === "delivered", "delivered");
      return "the provider's delivery webhook reached deliver";
    });
  }

  await step("ops", async () => {
    const stats = await new OpsClient({ baseUrl: ingestUrl, token: opsToken, timeoutMs: 10_000 }).stats();
    const count = (n: number, what: string) => `${n} ${what}${n === 1 ? "" : "s"}`;
    return `GET /ops/stats with the ops token: the ledger holds ${count(stats.records, "note")}, ${count(stats.deadLetters.total, "dead letter")}`;
  });

  const took = ((performance.now() - runStarted) / 1000).toFixed(1);
  console.log(`smoke: ok, ${passed} steps in ${took} s; the email in ${to}'s inbox has X-Notepipe-Note-Id: ${id}`);
}

try {
  await main(options.to);
} catch (error) {
  if (!(error instanceof RunFailed)) throw error;
  console.error(error.message);
  process.exitCode = 1;
}
