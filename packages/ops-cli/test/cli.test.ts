/**
 * `pnpm ops` against a stub of the ops API on a real port: what each command prints, how it pages
 * and chunks, and the exit code a script sees for each kind of failure.
 */

import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { fileURLToPath } from "node:url";
import { parseTokenSecrets, readClientToken, verifyClientToken } from "@notepipe/token";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { parseSince } from "../src/commands/dlq.ts";
import { EXIT_CODES } from "../src/errors.ts";
import { type CliIo, run } from "../src/program.ts";
import { deadLetter, STUB_TOKEN, type StubOpsApi, startStubOpsApi } from "./stub-ops-api.ts";

interface Outcome {
  code: number;
  stdout: string;
  stderr: string;
}

/** A directory with no `.dev.vars`: the tests never read the repository's. */
const NO_DEV_VARS = `${mkdtempSync(join(tmpdir(), "ops-cli-"))}/`;

async function ops(
  argv: string[],
  env: Record<string, string | undefined> = {},
  devVarsRoot = NO_DEV_VARS,
): Promise<Outcome> {
  let stdout = "";
  let stderr = "";
  const errors = new PassThrough();
  errors.on("data", (chunk) => {
    stderr += String(chunk);
  });
  const io: CliIo = {
    stdout: { write: (text: string) => (stdout += text) },
    stderr: errors,
    env,
    devVarsRoot,
  };
  const code = await run(argv, io);
  return { code, stdout, stderr };
}

let api: StubOpsApi;
let target: Record<string, string>;

beforeEach(async () => {
  api = await startStubOpsApi([
    deadLetter(1),
    deadLetter(2, { reason: "rejected", possiblySent: true }),
    deadLetter(3),
  ]);
  target = { NOTEPIPE_OPS_URL: api.url, NOTEPIPE_OPS_TOKEN: STUB_TOKEN };
});

afterEach(async () => {
  await api.close();
});

describe("ops dlq list", () => {
  it("prints every entry over all pages, masked recipients, and a count", async () => {
    const { code, stdout } = await ops(["dlq", "list"], target);
    expect(code).toBe(0);
    const lines = stdout.trimEnd().split("\n");
    expect(lines[0]).toMatch(/^ID\s+REASON\s+ATTEMPTS\s+LAST FAILURE\s+RECIPIENT$/);
    expect(lines.slice(1, 4).map((line) => line.split(/\s+/)[0])).toEqual([
      deadLetter(1).id,
      deadLetter(2).id,
      deadLetter(3).id,
    ]);
    expect(lines[2]).toContain("a***@example.com");
    expect(lines[2]).toMatch(/possibly sent$/);
    expect(lines[4]).toBe("3 dead letters");
    expect(api.requests.filter((request) => request.startsWith("GET /ops/dead-letters"))).toHaveLength(2);
  });

  it("passes --reason and --since to the API and prints JSON with --json", async () => {
    const { code, stdout } = await ops(
      ["--json", "dlq", "list", "--reason", "rejected", "--since", "2026-11-23T07:00:00Z"],
      target,
    );
    expect(code).toBe(0);
    expect(JSON.parse(stdout)).toEqual([deadLetter(2, { reason: "rejected", possiblySent: true })]);
    expect(api.requests[0]).toBe("GET /ops/dead-letters?limit=1000&reason=rejected&since=2026-11-23T07%3A00%3A00.000Z");
  });

  it("reads --since as an ISO time or a duration back from now", () => {
    const now = Date.parse("2026-11-23T12:00:00Z");
    expect(parseSince("2h", now)).toBe("2026-11-23T10:00:00.000Z");
    expect(parseSince("90m", now)).toBe("2026-11-23T10:30:00.000Z");
    expect(parseSince("7d", now)).toBe("2026-11-16T12:00:00.000Z");
    expect(parseSince("2026-11-23T08:00:00+01:00", now)).toBe("2026-11-23T07:00:00.000Z");
    expect(() => parseSince("yesterday", now)).toThrow("ISO 8601");
  });
});

describe("ops dlq replay", () => {
  const possiblySentLine =
    "1 possibly sent, not replayed: the provider may already have sent them; --include-possibly-sent replays them (their readers may get the email twice)\n";

  it("--all replays every entry but the possibly-sent ones, and says how many it left out", async () => {
    const { code, stdout } = await ops(["dlq", "replay", "--all"], target);
    expect(code).toBe(EXIT_CODES.ok);
    expect(stdout).toBe(`replayed 2, skipped 1 (possibly_sent 1), failed 0, of 3\n${possiblySentLine}`);
    expect(api.store.map((entry) => entry.id)).toEqual([deadLetter(2).id]);
  });

  it("--include-possibly-sent replays those too, and says so in each request", async () => {
    const { code, stdout } = await ops(["dlq", "replay", "--all", "--include-possibly-sent"], target);
    expect(code).toBe(EXIT_CODES.ok);
    expect(stdout).toBe("replayed 3, skipped 0, failed 0, of 3\n");
    expect(api.store).toEqual([]);
    expect(api.replayBodies).toEqual([
      { ids: [deadLetter(1).id, deadLetter(2).id, deadLetter(3).id], includePossiblySent: true },
    ]);
  });

  it("--json prints the totals with the possibly-sent count, and every result", async () => {
    const { code, stdout } = await ops(["--json", "dlq", "replay", deadLetter(2).id, deadLetter(3).id], target);
    expect(code).toBe(0);
    expect(JSON.parse(stdout)).toEqual({
      replayed: 1,
      skipped: 1,
      failed: 0,
      skippedPossiblySent: 1,
      results: [
        { id: deadLetter(2).id, outcome: "skipped", reason: "possibly_sent" },
        { id: deadLetter(3).id, outcome: "replayed" },
      ],
    });
    expect(api.replayBodies).toEqual([{ ids: [deadLetter(2).id, deadLetter(3).id] }]);
  });

  it("sends the ids 100 at a time", async () => {
    api.store.push(...Array.from({ length: 247 }, (_, i) => deadLetter(100 + i)));
    const { code, stdout } = await ops(["dlq", "replay", "--all", "--include-possibly-sent"], target);
    expect(code).toBe(0);
    expect(stdout).toBe("replayed 250, skipped 0, failed 0, of 250\n");
    expect(api.replayBodies.map((body) => body.ids.length)).toEqual([100, 100, 50]);
  });

  it("run twice replays nothing the second time", async () => {
    await ops(["dlq", "replay", "--all", "--include-possibly-sent"], target);
    const again = await ops(["dlq", "replay", "--all", "--include-possibly-sent"], target);
    expect(again).toEqual({ code: 0, stdout: "nothing to replay: no dead letter matches\n", stderr: "" });

    const ids = [deadLetter(1).id, deadLetter(2).id];
    const byIds = await ops(["dlq", "replay", ...ids], target);
    expect(byIds.stdout).toBe("replayed 0, skipped 2 (not_found 2), failed 0, of 2\n");
  });

  it("--since with --reason replays only what matches", async () => {
    const { stdout } = await ops(
      ["dlq", "replay", "--since", "2026-11-23T07:00:00Z", "--reason", "sender_not_verified"],
      target,
    );
    expect(stdout).toBe("replayed 2, skipped 0, failed 0, of 2\n");
    expect(api.store.map((entry) => entry.id)).toEqual([deadLetter(2).id]);
  });

  it("exits 1 when notes could not be put back, naming them, with one line on stderr", async () => {
    api.failIds.add(deadLetter(3).id);
    const { code, stdout, stderr } = await ops(["dlq", "replay", "--all"], target);
    expect(code).toBe(EXIT_CODES.incomplete);
    expect(stdout).toBe(
      `replayed 1, skipped 1 (possibly_sent 1), failed 1 (queue_unavailable 1), of 3\n  failed  ${deadLetter(3).id}  queue_unavailable\n${possiblySentLine}`,
    );
    expect(stderr).toBe("ops: 1 note(s) could not be put back on the queue; run the replay again.\n");
  });

  it.each([
    [["dlq", "replay"], "give exactly one of --all, --since <time> or dead-letter ids."],
    [["dlq", "replay", "--all", deadLetter(1).id], "give exactly one of"],
    [["dlq", "replay", "--all", "--since", "2h"], "give exactly one of"],
    [["dlq", "replay", deadLetter(1).id, "--reason", "rejected"], "--reason goes with --all or --since"],
    [["dlq", "replay", "--since", "last week"], "ISO 8601"],
    [["dlq", "replay", "--all", "--reason", "bored"], "Allowed choices"],
    [["dlq", "frobnicate"], "unknown command"],
    [["--timeout", "0", "stats"], "seconds"],
  ])("exits 2 for %j without a request", async (argv, fragment) => {
    const { code, stderr } = await ops(argv, target);
    expect(code).toBe(EXIT_CODES.usage);
    expect(stderr).toContain(fragment);
    expect(api.requests).toEqual([]);
  });
});

describe("ops dlq discard", () => {
  it("discards one entry, and exits 1 for an id with none", async () => {
    expect(await ops(["dlq", "discard", deadLetter(2).id], target)).toEqual({
      code: 0,
      stdout: `discarded ${deadLetter(2).id}: state failed\n`,
      stderr: "",
    });
    const missing = await ops(["dlq", "discard", deadLetter(2).id], target);
    expect(missing).toEqual({ code: EXIT_CODES.incomplete, stdout: "", stderr: "ops: No dead letter has this id.\n" });
  });
});

describe("ops stats", () => {
  it("prints states, reasons, and what waits to be repaired or resent", async () => {
    const { code, stdout } = await ops(["stats"], target);
    expect(code).toBe(0);
    expect(stdout).toBe(
      [
        "notes         203 in the delivery ledger",
        "  by state    sent 120 · delivered 80 · dead 3",
        "dead letters  3 (possibly sent: 1)",
        "  by reason   sender_not_verified 3",
        "KV behind     4 status record(s) the Cron repair has yet to write",
        "unanswered    1 request(s) waiting to be sent again under their key",
        "",
      ].join("\n"),
    );
  });
});

describe("targets, tokens and failures", () => {
  it("takes the URL and token from flags over the environment", async () => {
    const { code } = await ops(["--url", api.url, "--token", STUB_TOKEN, "stats"], {
      NOTEPIPE_OPS_URL: "http://127.0.0.1:9",
      NOTEPIPE_OPS_TOKEN: "wrong-token-0123456789",
    });
    expect(code).toBe(0);
  });

  it("defaults the token to the first of OPS_TOKENS in the stack's .dev.vars", async () => {
    const root = `${mkdtempSync(join(tmpdir(), "ops-cli-devvars-"))}/`;
    writeFileSync(`${root}.dev.vars`, `OPS_TOKENS='["${STUB_TOKEN}", "another-token-0123456789"]'\n`);
    const { code } = await ops(["stats"], { NOTEPIPE_OPS_URL: api.url }, root);
    expect(code).toBe(0);
  });

  it("exits 3 with one line when the token is refused", async () => {
    const { code, stderr } = await ops(["stats"], { ...target, NOTEPIPE_OPS_TOKEN: "wrong-token-0123456789" });
    expect(code).toBe(EXIT_CODES.refused);
    expect(stderr).toBe(
      "ops: the ops API refused the token (This ops token is not valid.) Set --token or NOTEPIPE_OPS_TOKEN.\n",
    );
  });

  it("exits 4 with one line when nothing listens there", async () => {
    const closed = await startStubOpsApi();
    await closed.close();
    const { code, stderr } = await ops(["stats"], { ...target, NOTEPIPE_OPS_URL: closed.url });
    expect(code).toBe(EXIT_CODES.unreachable);
    expect(stderr).toBe(
      `ops: cannot reach ${closed.url} (connection refused); is the stack running (pnpm dev)? Set --url or NOTEPIPE_OPS_URL.\n`,
    );
  });

  it("exits 5 when the URL answers but is not the ops API", async () => {
    const notFound = await ops(["stats"], { ...target, NOTEPIPE_OPS_URL: `${api.url}/elsewhere` });
    expect(notFound.code).toBe(EXIT_CODES.not_ops_api);
    expect(notFound.stderr).toMatch(
      /^ops: GET .*\/elsewhere\/ops\/stats answered 404 with no JSON: is .* the notepipe ingest \(or deliver\) Worker\?\n$/,
    );
    const html = await ops(["stats"], { ...target, NOTEPIPE_OPS_URL: `${api.url}/html` });
    expect(html.code).toBe(EXIT_CODES.not_ops_api);
  });

  it("exits 6 when the API fails, and 2 for a URL that is not one", async () => {
    api.failWith = 503;
    const failed = await ops(["stats"], target);
    expect(failed).toEqual({
      code: EXIT_CODES.server_error,
      stdout: "",
      stderr: "ops: the ops API failed: OPS_TOKENS must hold one or more tokens.\n",
    });
    const bad = await ops(["stats"], { ...target, NOTEPIPE_OPS_URL: "127.0.0.1:8787" });
    expect(bad.code).toBe(EXIT_CODES.usage);
  });

  it("sets the process exit code when run as `pnpm ops`", () => {
    const main = fileURLToPath(new URL("../src/main.ts", import.meta.url));
    const child = spawnSync(process.execPath, [main, "stats"], {
      encoding: "utf8",
      env: { ...process.env, ...target, NOTEPIPE_OPS_URL: "http://127.0.0.1:9" },
    });
    expect(child.status).toBe(EXIT_CODES.unreachable);
    expect(child.stderr.trim().split("\n")).toHaveLength(1);
  });
});

describe("ops token and ops webhook-secret", () => {
  it("signs a client token the ingest Worker accepts for that recipient only", async () => {
    const secrets = '{"k1":"a-test-secret-0123456789"}';
    const { code, stdout } = await ops(["token", "Ada@Example.com"], { TOKEN_SECRETS: secrets });
    expect(code).toBe(0);
    const parsed = parseTokenSecrets(secrets);
    const read = readClientToken(stdout.trim(), parsed);
    if (!read.ok) throw new Error("unreadable token");
    expect(await verifyClientToken(read.token, "ada@example.com", parsed)).toEqual({ ok: true, kid: "k1" });
    expect((await verifyClientToken(read.token, "bob@example.com", parsed)).ok).toBe(false);
  });

  it("asks for --kid when there are several, and refuses an address notepipe does not send to", async () => {
    const secrets = '{"k1":"a-test-secret-0123456789","k2":"b-test-secret-0123456789"}';
    expect((await ops(["token", "ada@example.com"], { TOKEN_SECRETS: secrets })).code).toBe(EXIT_CODES.usage);
    expect((await ops(["token", "ada@example.com", "--kid", "k2"], { TOKEN_SECRETS: secrets })).code).toBe(0);
    expect((await ops(["token", "not an address"])).code).toBe(EXIT_CODES.usage);
  });

  it("makes a new whsec_ secret of 24 random bytes each time", async () => {
    const [a, b] = [await ops(["webhook-secret"]), await ops(["webhook-secret"])];
    expect(a.stdout).toMatch(/^whsec_[A-Za-z0-9+/]{32}\n$/);
    expect(Buffer.from(a.stdout.trim().slice(6), "base64")).toHaveLength(24);
    expect(a.stdout).not.toBe(b.stdout);
  });
});
