/**
 * `pnpm smoke <ingest-url>` as an operator runs it after a deploy, here against a real local stack:
 * it passes with a client token or with an enrollment whose code comes from the inbox, and it fails
 * clearly (exit 1, the failing step named, no token printed) when a step cannot pass.
 */

import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { join } from "node:path";
import type { InboxEmail } from "@notepipe/local-provider";
import { firstOpsToken, type LocalStack, ROOT, startStack } from "@notepipe/local-stack";
import { parseTokenSecrets, signClientToken } from "@notepipe/token";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FAST_RETRY_VARS } from "./notes.ts";

const SMOKE = join(ROOT, "scripts", "smoke.ts");

let stack: LocalStack;
let opsToken: string;

beforeAll(async () => {
  stack = await startStack({
    ingestPort: 0,
    providerPort: 0,
    ephemeral: true,
    deliveryWebhooks: true,
    deliverVars: FAST_RETRY_VARS,
  });
  opsToken = firstOpsToken(stack.opsTokens) as string;
});

afterAll(async () => {
  await stack?.stop();
});

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `node scripts/smoke.ts …` as a user would, killed if it outlives 90 s. */
async function smoke(
  args: string[],
  options: { env?: Record<string, string>; withChild?: (child: ChildProcess) => void } = {},
): Promise<Run> {
  const child = spawn(process.execPath, [SMOKE, ...args], {
    cwd: ROOT,
    env: { ...process.env, NOTEPIPE_TOKEN: "", NOTEPIPE_OPS_TOKEN: "", ...options.env },
    stdio: ["pipe", "pipe", "pipe"],
    timeout: 90_000,
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (chunk: Buffer) => {
    stdout += chunk.toString("utf8");
  });
  child.stderr.on("data", (chunk: Buffer) => {
    stderr += chunk.toString("utf8");
  });
  options.withChild?.(child);
  const [code] = (await once(child, "close")) as [number | null];
  return { code, stdout, stderr };
}

async function clientToken(to: string): Promise<string> {
  const secrets = parseTokenSecrets(stack.tokenSecrets);
  return signClientToken(secrets, secrets.keys().next().value as string, to);
}

/** The names of the steps that passed (✓) and failed (✗), in order. */
function steps(stdout: string): string[] {
  return stdout
    .split("\n")
    .filter((line) => /^[✓✗] /.test(line))
    .map((line) => line.slice(0, 2) + (line.slice(2).split(/\s+/)[0] ?? ""));
}

/** The line of one step: its mark, its name, how long it took, what it saw. */
function line(stdout: string, name: string): string {
  return stdout.split("\n").find((text) => new RegExp(`^[✓✗] ${name} +\\d+\\.\\d s  `).test(text)) ?? "";
}

function noteIdOf(stdout: string): string {
  return /note ([0-9a-f-]{36})/.exec(line(stdout, "post"))?.[1] ?? "";
}

function emailsTo(to: string): InboxEmail[] {
  return stack.provider.state.inbox.list().filter((email) => email.to.includes(to));
}

/** The code (8 characters of Crockford's base32) of the next code email to `to`, as its reader would copy it. */
function nextCode(to: string): Promise<string> {
  return new Promise((resolve) => {
    const stop = stack.provider.state.inbox.subscribe((email) => {
      const code = /\b([0-9A-HJKMNP-TV-Z]{8})\b/.exec(email.text ?? "")?.[1];
      if (email.to.includes(to) && email.noteId === null && code !== undefined) {
        stop();
        resolve(code);
      }
    });
  });
}

describe("pnpm smoke on a running stack", () => {
  it("passes with a client token: the note is posted, sent, delivered, and the ops API answers", async () => {
    const to = "ada@example.com";
    const token = await clientToken(to);

    const run = await smoke([
      stack.ingestUrl,
      "--to",
      to,
      "--token",
      token,
      "--ops-token",
      opsToken,
      "--expect-delivered",
    ]);

    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    expect(steps(run.stdout)).toEqual(["✓ post", "✓ sent", "✓ delivered", "✓ ops"]);
    expect(line(run.stdout, "post")).toMatch(/POST \/v1\/notes → 202: note [0-9a-f-]{36}, encrypted/);
    expect(line(run.stdout, "ops")).toMatch(
      /GET \/ops\/stats with the ops token: the ledger holds 1 note, 0 dead letters$/,
    );
    expect(run.stdout.trimEnd().split("\n").at(-1)).toMatch(
      new RegExp(
        `^smoke: ok, 4 steps in \\d+\\.\\d s; the email in ${to}'s inbox has X-Notepipe-Note-Id: ${noteIdOf(run.stdout)}$`,
      ),
    );
    expect(emailsTo(to).filter((email) => email.noteId === noteIdOf(run.stdout))).toHaveLength(1);
    for (const secret of [token, opsToken]) expect(run.stdout + run.stderr).not.toContain(secret);
  });

  it("enrols the address with the emailed code typed on stdin, then sends to it", async () => {
    const to = "grace@example.com";
    const code = nextCode(to);

    const run = await smoke([stack.ingestUrl, "--to", to], {
      env: { NOTEPIPE_OPS_TOKEN: opsToken },
      withChild: (child) => void code.then((digits) => child.stdin?.end(`${digits}\n`)),
    });

    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    expect(steps(run.stdout)).toEqual(["✓ code", "✓ enrol", "✓ post", "✓ sent", "✓ ops"]);
    expect(line(run.stdout, "enrol")).toContain("POST /v1/tokens: the code bought grace@example.com's client token");
    expect(emailsTo(to).map((email) => email.noteId)).toEqual([null, noteIdOf(run.stdout)]);
    expect(run.stdout + run.stderr).not.toMatch(/np1\./);
  });

  it("enrols with the code printed by --code-from, which is told the address", async () => {
    const to = "hopper@example.com";
    // An operator's mail reader, here the local inbox: the code of the newest code email to the address.
    const reader = `const u = ${JSON.stringify(stack.providerUrl)} + "/inbox?to=" + encodeURIComponent(process.env.NOTEPIPE_SMOKE_TO);
      for (let i = 0; i < 100; i++) {
        const { emails } = await (await fetch(u)).json();
        const code = /\\b([0-9A-HJKMNP-TV-Z]{8})\\b/.exec(emails.find((e) => e.noteId === null)?.text ?? "")?.[1];
        if (code) { console.log(code); process.exit(0); }
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      process.exit(1);`;
    const command = `${JSON.stringify(process.execPath)} --input-type=module -e ${shellQuote(reader)}`;

    const run = await smoke([stack.ingestUrl, "--to", to, "--code-from", command, "--ops-token", opsToken]);

    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    expect(steps(run.stdout)).toEqual(["✓ code", "✓ enrol", "✓ post", "✓ sent", "✓ ops"]);
  });
});

describe("pnpm smoke fails clearly", () => {
  it("names the ops step when the ops API refuses the ops token, and prints neither token", async () => {
    const to = "ada@example.com";
    const token = await clientToken(to);
    const wrong = "not-the-ops-token-0123456789abcdef";

    const run = await smoke([stack.ingestUrl, "--to", to, "--ops-token", wrong], { env: { NOTEPIPE_TOKEN: token } });

    expect(run.code).toBe(1);
    expect(steps(run.stdout)).toEqual(["✓ post", "✓ sent", "✗ ops"]);
    expect(line(run.stdout, "ops")).toContain("refused: the ops API refused the token");
    expect(run.stderr.trim()).toBe('smoke: failed at step "ops" after 2 passed.');
    for (const secret of [token, wrong]) expect(run.stdout + run.stderr).not.toContain(secret);
  });

  it("says how to call it: exit 2 without an ops token, before anything is sent", async () => {
    const run = await smoke([stack.ingestUrl, "--to", "ada@example.com"]);

    expect(run.code).toBe(2);
    expect(run.stdout).toBe("");
    expect(run.stderr.trim()).toBe("smoke: no ops token: give --ops-token or set NOTEPIPE_OPS_TOKEN.");
  });

  // Last: it stops this file's provider for good.
  it("names the sent step, with the note's state and deliver's error, when the mail provider is down", async () => {
    await stack.provider.close();
    const to = "ada@example.com";

    const run = await smoke([stack.ingestUrl, "--to", to, "--timeout", "10"], {
      env: { NOTEPIPE_TOKEN: await clientToken(to), NOTEPIPE_OPS_TOKEN: opsToken },
    });

    expect(run.code).toBe(1);
    expect(steps(run.stdout)).toEqual(["✓ post", "✗ sent"]);
    expect(line(run.stdout, "sent")).toMatch(
      /^✗ sent +\d+\.\d s {2}not sent within 10 s; it is retrying: The connection to the mail provider failed\..*$/,
    );
    expect(run.stderr.trim()).toBe('smoke: failed at step "sent" after 1 passed.');
  });
});

/** One POSIX shell word holding `text` as it is. */
function shellQuote(text: string): string {
  return `'${text.replaceAll("'", `'\\''`)}'`;
}
