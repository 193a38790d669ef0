/**
 * The ledger's prune, called as the Cron and the object's alarm call it: a row goes once its time
 * is up and nothing still needs it, and one run deletes a bounded batch, the rest on the alarm.
 */

import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { type DeliveryLedger, PRUNE_BATCH } from "../src/ledger/ledger.ts";
import { claimOf, ledger, ledgerNote } from "./ledger.ts";
import { makeNote, makeNotes, messageOf, mockProvider, resendAccepted, runQueue, type TestNote } from "./notes.ts";

const DAY_MS = 24 * 60 * 60 * 1000;

function sql(query: string, ...bindings: unknown[]): Promise<void> {
  return runInDurableObject(ledger(), (_instance: DeliveryLedger, state) => {
    state.storage.sql.exec(query, ...bindings);
  });
}

/** As if each note's time had run out a second ago. */
async function expire(ids: string[]): Promise<void> {
  for (const id of ids) await sql("UPDATE notes SET expires_at = ? WHERE id = ?", Date.now() - 1_000, id);
}

/** Prunes until nothing is due, so that a test counts only the rows it made due. */
async function pruneAll(): Promise<void> {
  // Bounded: each round deletes a full batch of a finite table or ends the loop.
  while ((await ledger().prune()) === PRUNE_BATCH) {}
}

async function alarmOf(): Promise<number | null> {
  return runInDurableObject(ledger(), (_instance: DeliveryLedger, state) => state.storage.getAlarm());
}

describe("prune", () => {
  it("deletes the notes whose time is up, and keeps live ones", async () => {
    await pruneAll();
    const notes = makeNotes(3);
    mockProvider(resendAccepted);
    await runQueue(
      "notes",
      notes.map((note) => messageOf(note)),
    );
    const [due, alsoDue, live] = notes as [TestNote, TestNote, TestNote];
    await expire([due.id, alsoDue.id]);

    expect(await ledger().prune()).toBe(2);
    expect(await ledgerNote(due.id)).toBeNull();
    expect(await ledgerNote(alsoDue.id)).toBeNull();
    expect(await ledgerNote(live.id)).toMatchObject({ state: "sent" });
  });

  it("keeps a note a request still holds, however old", async () => {
    await pruneAll();
    const note = makeNote();
    await ledger().claim(claimOf("invocation-1", [note]));
    await expire([note.id]);

    expect(await ledger().prune()).toBe(0);
    expect(await ledgerNote(note.id)).toMatchObject({ state: "queued" });
  });

  it("keeps a record KV has not taken while its client may still ask, and not after", async () => {
    await pruneAll();
    const [asked, forgotten] = makeNotes(2) as [TestNote, TestNote];
    mockProvider(resendAccepted);
    await runQueue("notes", [messageOf(asked), messageOf(forgotten)]);
    await sql("UPDATE notes SET kv_version = 0 WHERE id IN (?, ?)", asked.id, forgotten.id);
    // The client calls a note `expired` 30 days after ingest accepted it (STATUS_TTL_SECONDS).
    await sql("UPDATE notes SET accepted_at = ? WHERE id = ?", Date.now() - 29 * DAY_MS, asked.id);
    await sql("UPDATE notes SET accepted_at = ? WHERE id = ?", Date.now() - 31 * DAY_MS, forgotten.id);
    await expire([asked.id, forgotten.id]);

    expect(await ledger().prune()).toBe(1);
    expect(await ledgerNote(asked.id)).toMatchObject({ state: "sent", kv_version: 0 });
    expect(await ledgerNote(forgotten.id)).toBeNull();
  });

  it("deletes one batch a run, and the object's alarm deletes the rest", async () => {
    await pruneAll();
    const due = PRUNE_BATCH + 7;
    await sql(
      `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
       INSERT INTO notes (id, state, version, kv_version, updated_at, expires_at)
       SELECT 'pruned-' || i, 'sent', 1, 1, ?, ? FROM n`,
      due,
      Date.now() - 30 * DAY_MS,
      Date.now() - 1_000,
    );

    expect(await ledger().prune()).toBe(PRUNE_BATCH);
    expect(await alarmOf()).not.toBeNull();

    expect(await runDurableObjectAlarm(ledger())).toBe(true);
    expect(await alarmOf()).toBeNull();
    expect(await ledger().prune()).toBe(0);
  });
});
