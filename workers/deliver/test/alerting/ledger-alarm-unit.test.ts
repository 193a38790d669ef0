/**
 * Alerts with no Cron: the ledger sets its alarm for when an alert comes due, and its alarm posts
 * it to the webhook (this project's OPS_ALERT_WEBHOOK_URL) and confirms it; the alarm still prunes.
 * Thresholds pass by editing the ledger's rows, not by waiting.
 */

import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { beforeEach, describe, expect, it, vi } from "vitest";
import { alertSettingsOf } from "../../src/ledger/alerts.ts";
import type { DeliveryLedger } from "../../src/ledger/ledger.ts";
import { ledger, ledgerNote } from "../ledger.ts";
import {
  makeNote,
  rawMessage,
  resendAccepted,
  resendError,
  runQueue,
  type SeenRequest,
  type TestNote,
} from "../notes.ts";
import { TEST_ALERT_WEBHOOK_URL } from "./config.ts";

const unverified = () =>
  resendError(
    403,
    "validation_error",
    "The notepipe.dev domain is not verified. Please, add and verify your domain on https://resend.com/domains",
  );

/** A delivery of `note` accepted by ingest just now: no note waits long enough for the backlog alert. */
function freshMessage(note: TestNote, attempts = 1) {
  return rawMessage({ frame: note.frame, acceptedAt: Date.now() }, attempts);
}

/**
 * The provider answers `provider` in turn; the webhook answers 200 and each post's text is kept,
 * with a promise for the next one, so that a test awaits the post rather than a time.
 */
function mockBoundary(...provider: ((request: SeenRequest) => Response)[]) {
  const posts: string[] = [];
  let arrived: () => void = () => {};
  let next = new Promise<void>((resolve) => {
    arrived = resolve;
  });
  vi.spyOn(globalThis, "fetch").mockImplementation(async (input, init) => {
    const request = new Request(input, init);
    const body = await request.json();
    if (request.url === TEST_ALERT_WEBHOOK_URL) {
      posts.push((body as { text: string }).text);
      arrived();
      next = new Promise<void>((resolve) => {
        arrived = resolve;
      });
      return new Response("ok");
    }
    const reply = provider.shift();
    if (reply === undefined) throw new Error(`unexpected request to ${request.url}`);
    return reply({ url: request.url, headers: request.headers, body });
  });
  return { posts, nextPost: () => next };
}

function pipelineFailureBegan(): Promise<number | null> {
  return runInDurableObject(ledger(), (_instance: DeliveryLedger, state) => {
    const row = state.storage.sql.exec<{ began: number | null }>(
      "SELECT began FROM alerts WHERE kind = 'pipeline_failure'",
    );
    return row.toArray()[0]?.began ?? null;
  });
}

function alarmOf(): Promise<number | null> {
  return runInDurableObject(ledger(), (_instance: DeliveryLedger, state) => state.storage.getAlarm());
}

/** As if the pipeline failure had begun `ms` earlier. */
function ageFailure(ms: number): Promise<void> {
  return runInDurableObject(ledger(), (_instance: DeliveryLedger, state) => {
    state.storage.sql.exec("UPDATE alerts SET began = began - ? WHERE kind = 'pipeline_failure'", ms);
  });
}

describe("the ledger's alarm", () => {
  // The file's tests share one ledger: each begins with nothing said, so no hour's limit carries over.
  beforeEach(async () => {
    await runInDurableObject(ledger(), (_instance: DeliveryLedger, state) => {
      state.storage.sql.exec("DELETE FROM alerts");
    });
  });

  it("is set for a pipeline failure's threshold, posts the alert once, then the recovery once", async () => {
    vi.spyOn(console, "error").mockImplementation(() => {});
    const threshold = alertSettingsOf(env).pipelineFailureMs;
    const note = makeNote();
    const { posts, nextPost } = mockBoundary(unverified, resendAccepted);

    await runQueue("notes", [freshMessage(note)]);

    const began = await pipelineFailureBegan();
    expect(began).not.toBeNull();
    expect(await alarmOf()).toBe((began as number) + threshold);
    expect(posts).toEqual([]);

    await ageFailure(threshold);
    const alerted = nextPost();
    expect(await runDurableObjectAlarm(ledger())).toBe(true);
    await alerted;
    expect(posts).toHaveLength(1);
    expect(posts[0]).toMatch(
      /^notepipe ALERT \(pipeline_failure\): The mail provider has refused every request since .* \(sender_not_verified\)/,
    );

    // Confirmed: whatever alarm is left finds nothing more to say while the failure lasts.
    await runDurableObjectAlarm(ledger());
    expect(posts).toHaveLength(1);

    // The sender is fixed: the note's next delivery is accepted, and the alarm, due at once, fires by itself.
    const recovered = nextPost();
    await runQueue("notes", [freshMessage(note, 2)]);
    await recovered;
    expect(posts).toEqual([
      posts[0],
      "notepipe recovered (pipeline_failure): The mail provider accepts requests again.",
    ]);
    expect(await ledgerNote(note.id)).toMatchObject({ state: "sent" });

    await runDurableObjectAlarm(ledger());
    expect(posts).toHaveLength(2);
  });

  it("posts again after its lease a notice that went out unconfirmed, as if the alarm was killed at the POST", async () => {
    vi.spyOn(console, "error").mockImplementation(() => {});
    const threshold = alertSettingsOf(env).pipelineFailureMs;
    const { posts } = mockBoundary(unverified);
    await runQueue("notes", [freshMessage(makeNote())]);
    await ageFailure(threshold);
    // The webhook is unreachable this once: nothing is confirmed.
    vi.mocked(globalThis.fetch).mockRejectedValueOnce(new TypeError("Network connection lost."));

    expect(await runDurableObjectAlarm(ledger())).toBe(true);

    const leased = await runInDurableObject(ledger(), (_instance: DeliveryLedger, state) => {
      const row = state.storage.sql.exec<{ sending_until: number | null; notified: string | null }>(
        "SELECT sending_until, notified FROM alerts WHERE kind = 'pipeline_failure'",
      );
      return row.toArray()[0];
    });
    expect(leased?.notified).toBeNull();
    expect(await alarmOf()).toBe(leased?.sending_until);
    expect(posts).toEqual([]);

    await runInDurableObject(ledger(), (_instance: DeliveryLedger, state) => {
      state.storage.sql.exec("UPDATE alerts SET sending_until = ? WHERE kind = 'pipeline_failure'", Date.now() - 1);
    });
    expect(await runDurableObjectAlarm(ledger())).toBe(true);
    expect(posts).toHaveLength(1);
    expect(posts[0]).toMatch(/^notepipe ALERT \(pipeline_failure\)/);
  });

  it("set for an alert not due yet, still prunes the rows whose time is up and posts nothing", async () => {
    vi.spyOn(console, "error").mockImplementation(() => {});
    const { posts } = mockBoundary(unverified);
    await runQueue("notes", [freshMessage(makeNote())]);
    await runInDurableObject(ledger(), (_instance: DeliveryLedger, state) => {
      state.storage.sql.exec(
        `INSERT INTO notes (id, state, version, kv_version, updated_at, expires_at)
         VALUES ('pruned-by-the-alarm', 'sent', 1, 1, ?, ?)`,
        Date.now() - 60_000,
        Date.now() - 1_000,
      );
    });
    expect(await alarmOf()).toBeGreaterThan(Date.now());

    expect(await runDurableObjectAlarm(ledger())).toBe(true);

    expect(await ledgerNote("pruned-by-the-alarm")).toBeNull();
    expect(posts).toEqual([]);
  });
});
