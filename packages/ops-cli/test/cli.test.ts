/**
 * `pnpm ops` against the real deliver Worker (test/deliver-worker.ts): dead letters that deliver
 * filed itself, listed, replayed and discarded through its ops API; what each command prints, how
 * it pages and chunks, and the exit code a script sees for each kind of failure.
 */

import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { fileURLToPath } from "node:url";
import { notBeforeKey } from "@notepipe/pipeline";
import { parseTokenSecrets, readClientToken, verifyClientToken } from "@notepipe/token";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { parseSince } from "../src/commands/dlq.ts";
import { EXIT_CODES } from "../src/errors.ts";
import { type CliIo, run } from "../src/program.ts";
import { type DeliverWorker, OPS_TOKEN, POSSIBLY_SENT, REJECTED, startDeliverWorker } from "./deliver-worker.ts";

interface Outcome {
  code: number;
  stdout: string;
  stderr: string;
}

/** What the CLI sent, as `METHOD path?query` and, for a replay, its body. */
interface SentRequest {
  request: string;
  body?: { ids: string[]; includePossiblySent?: boolean };
}

/** A directory with no `.dev.vars`: the tests never read the repository's. */
const NO_DEV_VARS = `${mkdtempSync(join(tmpdir(), "ops-cli-"))}/`;

let sent: SentRequest[] = [];

/** The global fetch, recording what the CLI asks of it. */
const recordingFetch: typeof fetch = (input, init) => {
  const url = new URL(String(input));
  const body = typeof init?.body === "string" ? (JSON.parse(init.body) as SentRequest["body"]) : undefined;
  sent.push({ request: `${init?.method ?? "GET"} ${url.pathname}${url.search}`, ...(body ? { body } : {}) });
  return fetch(input, init);
};

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
    fetch: recordingFetch,
  };
  const code = await run(argv, io);
  return { code, stdout, stderr };
}

const replayBodies = () => sent.flatMap((entry) => (entry.body === undefined ? [] : [entry.body]));

/** A URL where nothing listens. */
async function closedUrl(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return `http://127.0.0.1:${port}`;
}

let deliver: DeliverWorker;
let target: Record<string, string>;
/** Three dead letters filed by deliver, in id order (the listing's): two rejected, one possibly sent. */
let ids: string[];
let possiblySentId: string;
let rejectedIds: string[];

function useDeliver(): void {
  beforeEach(async () => {
    sent = [];
    deliver = await startDeliverWorker();
    target = { NOTEPIPE_OPS_URL: deliver.url, NOTEPIPE_OPS_TOKEN: OPS_TOKEN };
    const [rejected1, unsure, rejected3] = await deliver.fileDeadLetters([REJECTED(1), POSSIBLY_SENT(2), REJECTED(3)]);
    ids = [rejected1, unsure, rejected3].map(String).toSorted();
    possiblySentId = String(unsure);
    rejectedIds = ids.filter((id) => id !== possiblySentId);
    sent = [];
  });
  afterEach(async () => {
    await deliver.close();
  });
}

describe("ops dlq list", () => {
  useDeliver();

  it("prints every entry, masked recipients and the possibly-sent mark, and a count", async () => {
    const { code, stdout } = await ops(["dlq", "list"], target);
    expect(code).toBe(0);
    const lines = stdout.trimEnd().split("\n");
    expect(lines[0]).toMatch(/^ID\s+REASON\s+ATTEMPTS\s+LAST FAILURE\s+RECIPIENT$/);
    expect(lines.slice(1, 4).map((line) => line.split(/\s+/)[0])).toEqual(ids);
    const unsure = lines.find((line) => line.startsWith(possiblySentId));
    expect(unsure).toMatch(/^\S+\s+possibly_sent\s+1\s+\S+\s+u\*\*\*@example\.com\s+possibly sent$/);
    for (const id of rejectedIds) {
      expect(lines.find((line) => line.startsWith(id))).toMatch(/^\S+\s+rejected\s+1\s+\S+\s+b\*\*\*@example\.com$/);
    }
    expect(lines[4]).toBe("3 dead letters");
  });

  it("passes --reason and --since to the API and prints JSON with --json", async () => {
    const since = "2026-11-23T07:00:00Z";
    const { code, stdout } = await ops(
      ["--json", "dlq", "list", "--reason", "possibly_sent", "--since", since],
      target,
    );
    expect(code).toBe(0);
    expect(JSON.parse(stdout)).toEqual([
      expect.objectContaining({ id: possiblySentId, reason: "possibly_sent", possiblySent: true, attempts: 1 }),
    ]);
    expect(sent.map((entry) => entry.request)).toEqual([
      "GET /ops/dead-letters?limit=1000&reason=possibly_sent&since=2026-11-23T07%3A00%3A00.000Z",
    ]);
  });
});

describe("ops dlq list --since", () => {
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
  useDeliver();

  const possiblySentLine =
    "1 possibly sent, not replayed: the provider may already have sent them; --include-possibly-sent replays them (their readers may get the email twice)\n";

  it("--all replays every entry but the possibly-sent ones, and says how many it left out", async () => {
    const { code, stdout } = await ops(["dlq", "replay", "--all"], target);
    expect(code).toBe(EXIT_CODES.ok);
    expect(stdout).toBe(`replayed 2, skipped 1 (possibly_sent 1), failed 0, of 3\n${possiblySentLine}`);
    const left = await ops(["--json", "dlq", "list"], target);
    expect((JSON.parse(left.stdout) as { id: string }[]).map((entry) => entry.id)).toEqual([possiblySentId]);
  });

  it("--include-possibly-sent replays those too, and says so in each request", async () => {
    const { code, stdout } = await ops(["dlq", "replay", "--all", "--include-possibly-sent"], target);
    expect(code).toBe(EXIT_CODES.ok);
    expect(stdout).toBe("replayed 3, skipped 0, failed 0, of 3\n");
    expect(replayBodies()).toEqual([{ ids, includePossiblySent: true }]);
    expect((await ops(["dlq", "list"], target)).stdout).toBe("0 dead letters\n");
  });

  it("--json prints the totals with the possibly-sent count, and every result", async () => {
    const [rejected] = rejectedIds;
    const { code, stdout } = await ops(["--json", "dlq", "replay", possiblySentId, String(rejected)], target);
    expect(code).toBe(0);
    expect(JSON.parse(stdout)).toEqual({
      replayed: 1,
      skipped: 1,
      failed: 0,
      skippedPossiblySent: 1,
      results: [
        { id: possiblySentId, outcome: "skipped", reason: "possibly_sent" },
        { id: rejected, outcome: "replayed" },
      ],
    });
    expect(replayBodies()).toEqual([{ ids: [possiblySentId, rejected] }]);
  });

  it("reads every page of the listing and sends the ids 100 at a time", async () => {
    await deliver.fileDeadLetters(Array.from({ length: 247 }, (_, i) => REJECTED(100 + i)));
    sent = [];
    const { code, stdout } = await ops(["dlq", "replay", "--all", "--include-possibly-sent"], target);
    expect(code).toBe(0);
    expect(stdout).toBe("replayed 250, skipped 0, failed 0, of 250\n");
    // The API answers at most 200 entries a page.
    expect(sent.filter((entry) => entry.request.startsWith("GET /ops/dead-letters"))).toHaveLength(2);
    expect(replayBodies().map((body) => body.ids.length)).toEqual([100, 100, 50]);
  }, 30_000);

  it("run twice replays nothing the second time", async () => {
    await ops(["dlq", "replay", "--all", "--include-possibly-sent"], target);
    await deliver.sentCount(3);
    const again = await ops(["dlq", "replay", "--all", "--include-possibly-sent"], target);
    expect(again).toEqual({ code: 0, stdout: "nothing to replay: no dead letter matches\n", stderr: "" });

    const byIds = await ops(["dlq", "replay", ...rejectedIds], target);
    expect(byIds.stdout).toBe("replayed 0, skipped 2 (already_sent 2), failed 0, of 2\n");
  });

  it("--since with --reason replays only what matches", async () => {
    const since = new Date(Date.now() + 1).toISOString();
    const [later] = await deliver.fileDeadLetters([REJECTED(4), POSSIBLY_SENT(5)]);
    const { stdout } = await ops(["dlq", "replay", "--since", since, "--reason", "rejected"], target);
    expect(stdout).toBe("replayed 1, skipped 0, failed 0, of 1\n");
    expect(replayBodies()).toEqual([{ ids: [later] }]);
  });

  it("exits 1 when notes could not be put back, naming them, with one line on stderr", async () => {
    const { code, stdout, stderr } = await ops(["dlq", "replay", "--all"], {
      ...target,
      NOTEPIPE_OPS_URL: deliver.queuesDownUrl,
    });
    expect(code).toBe(EXIT_CODES.incomplete);
    const failedLines = rejectedIds.map((id) => `  failed  ${id}  queue_unavailable\n`).join("");
    expect(stdout).toBe(
      `replayed 0, skipped 1 (possibly_sent 1), failed 2 (queue_unavailable 2), of 3\n${failedLines}${possiblySentLine}`,
    );
    expect(stderr).toBe("ops: 2 note(s) could not be put back on the queue; run the replay again.\n");
  });
});

describe("ops dlq replay, usage", () => {
  it.each([
    [["dlq", "replay"], "give exactly one of --all, --since <time> or dead-letter ids."],
    [["dlq", "replay", "--all", "3b241101-e2bb-4255-8caf-4136c566a962"], "give exactly one of"],
    [["dlq", "replay", "--all", "--since", "2h"], "give exactly one of"],
    [["dlq", "replay", "3b241101-e2bb-4255-8caf-4136c566a962", "--reason", "rejected"], "--reason goes with"],
    [["dlq", "replay", "--since", "last week"], "ISO 8601"],
    [["dlq", "replay", "--all", "--reason", "bored"], "Allowed choices"],
    [["dlq", "frobnicate"], "unknown command"],
    [["--timeout", "0", "stats"], "seconds"],
  ])("exits 2 for %j without a request", async (argv, fragment) => {
    sent = [];
    const { code, stderr } = await ops(argv, { NOTEPIPE_OPS_URL: await closedUrl(), NOTEPIPE_OPS_TOKEN: OPS_TOKEN });
    expect(code).toBe(EXIT_CODES.usage);
    expect(stderr).toContain(fragment);
    expect(sent).toEqual([]);
  });
});

describe("ops dlq discard", () => {
  useDeliver();

  it("discards one entry, and exits 1 for an id with none", async () => {
    const [id] = rejectedIds;
    expect(await ops(["dlq", "discard", String(id)], target)).toEqual({
      code: 0,
      stdout: `discarded ${id}: state failed\n`,
      stderr: "",
    });
    const missing = await ops(["dlq", "discard", String(id)], target);
    expect(missing).toEqual({ code: EXIT_CODES.incomplete, stdout: "", stderr: "ops: No dead letter has this id.\n" });
  });
});

describe("ops stats", () => {
  useDeliver();

  it("prints states, reasons, and what waits to be repaired or resent", async () => {
    const { code, stdout } = await ops(["stats"], target);
    expect(code).toBe(0);
    expect(stdout).toBe(
      [
        "notes         3 in the delivery ledger",
        "  by state    failed 3",
        "dead letters  3 (possibly sent: 1)",
        "  by reason   possibly_sent 1 · rejected 2",
        "KV behind     0 status record(s) the Cron repair has yet to write",
        "unanswered    0 request(s) waiting to be sent again under their key",
        "",
      ].join("\n"),
    );
  });
});

describe("targets, tokens and failures", () => {
  useDeliver();

  it("takes the URL and token from flags over the environment", async () => {
    const { code } = await ops(["--url", deliver.url, "--token", OPS_TOKEN, "stats"], {
      NOTEPIPE_OPS_URL: await closedUrl(),
      NOTEPIPE_OPS_TOKEN: "wrong-token-0123456789",
    });
    expect(code).toBe(0);
  });

  it("defaults the token to the first of OPS_TOKENS in the stack's .dev.vars", async () => {
    const root = `${mkdtempSync(join(tmpdir(), "ops-cli-devvars-"))}/`;
    writeFileSync(`${root}.dev.vars`, `OPS_TOKENS='["${OPS_TOKEN}", "another-token-0123456789"]'\n`);
    const { code } = await ops(["stats"], { NOTEPIPE_OPS_URL: deliver.url }, root);
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
    const closed = await closedUrl();
    const { code, stderr } = await ops(["stats"], { ...target, NOTEPIPE_OPS_URL: closed });
    expect(code).toBe(EXIT_CODES.unreachable);
    expect(stderr).toBe(
      `ops: cannot reach ${closed} (connection refused); is the stack running (pnpm dev)? Set --url or NOTEPIPE_OPS_URL.\n`,
    );
  });

  it("exits 5 when the URL answers but is not the ops API", async () => {
    const elsewhere = await ops(["stats"], { ...target, NOTEPIPE_OPS_URL: `${deliver.url}/elsewhere` });
    expect(elsewhere).toEqual({
      code: EXIT_CODES.not_ops_api,
      stdout: "",
      stderr: `ops: ${deliver.url}/elsewhere/ops/stats is not an ops route (404): is ${deliver.url}/elsewhere the notepipe ingest Worker?\n`,
    });
    const provider = await ops(["stats"], { ...target, NOTEPIPE_OPS_URL: deliver.providerUrl });
    expect(provider.code).toBe(EXIT_CODES.not_ops_api);
    expect(provider.stderr).toMatch(
      /^ops: GET .*\/ops\/stats answered 404 with no JSON: is .* the notepipe ingest \(or deliver\) Worker\?\n$/,
    );
  });

  it("exits 6 when the API fails, and 2 for a URL that is not one", async () => {
    const failed = await ops(["stats"], { ...target, NOTEPIPE_OPS_URL: deliver.unconfiguredUrl });
    expect(failed).toEqual({
      code: EXIT_CODES.server_error,
      stdout: "",
      stderr: "ops: the ops API failed: OPS_TOKENS must hold one or more tokens of at least 16 characters.\n",
    });
    const bad = await ops(["stats"], { ...target, NOTEPIPE_OPS_URL: "127.0.0.1:8787" });
    expect(bad.code).toBe(EXIT_CODES.usage);
  });

  it("sets the process exit code when run as `pnpm ops`", async () => {
    const main = fileURLToPath(new URL("../src/main.ts", import.meta.url));
    const child = spawnSync(process.execPath, [main, "stats"], {
      encoding: "utf8",
      env: { ...process.env, ...target, NOTEPIPE_OPS_URL: await closedUrl() },
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

describe("ops token revoke", () => {
  let worker: DeliverWorker;
  beforeAll(async () => {
    worker = await startDeliverWorker();
  });
  afterAll(async () => {
    await worker.close();
  });

  it("sets the address's not-before through the ops API and says when ingest applies it", async () => {
    sent = [];
    const before = Math.floor(Date.now() / 1000);
    const env = { NOTEPIPE_OPS_URL: worker.url, NOTEPIPE_OPS_TOKEN: OPS_TOKEN };

    const { code, stdout, stderr } = await ops(["token", "revoke", "Ada@Example.com"], env);

    expect({ code, stderr }).toEqual({ code: 0, stderr: "" });
    expect(sent).toEqual([{ request: "POST /ops/tokens/revoke", body: { to: "Ada@Example.com" } }]);
    const notBefore = Number(await worker.statusValue(await notBeforeKey("ada@example.com")));
    expect(notBefore).toBeGreaterThan(before);
    expect(stdout).toBe(
      `revoked: ada@example.com's tokens issued before ${new Date(notBefore * 1000).toISOString()} are refused within 90 s\n`,
    );
    const json = await ops(["--json", "token", "revoke", "ada@example.com"], env);
    expect(JSON.parse(json.stdout)).toMatchObject({ to: "ada@example.com", appliesWithinSeconds: 90 });
  });

  it("refuses an address notepipe does not send to before asking, and a wrong ops token", async () => {
    sent = [];
    const env = { NOTEPIPE_OPS_URL: worker.url, NOTEPIPE_OPS_TOKEN: OPS_TOKEN };
    const bad = await ops(["token", "revoke", "not an address"], env);
    expect(bad).toEqual({
      code: EXIT_CODES.usage,
      stdout: "",
      stderr: 'ops: "not an address" is not an address notepipe sends to.\n',
    });
    expect(sent).toEqual([]);
    const refused = await ops(["token", "revoke", "ada@example.com"], {
      ...env,
      NOTEPIPE_OPS_TOKEN: "not-the-ops-token-0123456789",
    });
    expect(refused.code).toBe(EXIT_CODES.refused);
  });
});
