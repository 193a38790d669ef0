/**
 * `pnpm demo` as a new user runs it: against a running stack it ends with the decrypted text;
 * without one it says to start the stack.
 */

import { execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { ROOT, type LocalStack as Stack, startStack } from "@notepipe/local-stack";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FAST_RETRY_VARS } from "./notes.ts";

const run = promisify(execFile);
const DEMO = join(ROOT, "scripts", "demo.ts");

let stack: Stack;
let keyDir: string;

beforeAll(async () => {
  keyDir = mkdtempSync(join(tmpdir(), "notepipe-demo-"));
  stack = await startStack({
    ingestPort: 0,
    providerPort: 0,
    ephemeral: true,
    deliverVars: FAST_RETRY_VARS,
    deliveryWebhooks: true,
  });
});

afterAll(async () => {
  await stack?.stop();
  rmSync(keyDir, { recursive: true, force: true });
});

function demo(ingestUrl: string, providerUrl: string, keyFile: string, ...args: string[]) {
  return run(process.execPath, [DEMO, "--key-file", join(keyDir, keyFile), "--timeout", "60", ...args], {
    cwd: ROOT,
    env: {
      ...process.env,
      NOTEPIPE_INGEST_URL: ingestUrl,
      NOTEPIPE_PROVIDER_URL: providerUrl,
      TOKEN_SECRETS: stack.tokenSecrets,
    },
    timeout: 90_000,
  });
}

/** A port nothing listens on: one the system just handed out and took back. */
function closedPort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

describe("pnpm demo", () => {
  it("ends with the email decrypted back to the note's text", async () => {
    const text = "Meet me at the old oak at noon. Bring the map.";
    const { stdout } = await demo(stack.ingestUrl, stack.providerUrl, "first.json", "--text", text);
    expect(stdout).toContain("1. key      generated a new AES-256-GCM key");
    expect(stdout).toContain("4. post     POST /v1/notes → 202");
    expect(stdout).toMatch(/8\. webhook +delivered after /);
    expect(stdout).toContain("subject  Encrypted Note");
    expect(stdout).toContain(`7. decrypt  ${JSON.stringify(text)}`);
    expect(stdout.trimEnd().split("\n").at(-1)).toBe("demo: ok, the email decrypts to the note that was sent.");
  });

  it("keeps its key: a second run loads the one the first generated", async () => {
    await demo(stack.ingestUrl, stack.providerUrl, "kept.json");
    const { stdout } = await demo(stack.ingestUrl, stack.providerUrl, "kept.json");
    expect(stdout).toContain("1. key      loaded the AES-256-GCM key");
    expect(stdout).toContain("demo: ok");
  });

  it("says to start the stack when nothing answers", async () => {
    const nobody = `http://127.0.0.1:${await closedPort()}`;
    const failure = await demo(nobody, nobody, "unused.json").then(
      () => null,
      (error: { code: number; stderr: string }) => error,
    );
    expect(failure?.code).toBe(1);
    expect(failure?.stderr.trim()).toBe(
      `demo: Nothing answers at ${nobody} (the ingest Worker). Start the local stack first: pnpm dev`,
    );
  });
});
