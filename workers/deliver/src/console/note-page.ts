/**
 * One note, found by its id: its state and its timeline (accepted, each attempt's outcome and the
 * delay it was given, replays, sent, delivered or bounced), from the ledger's row (ledger/timeline.ts).
 * The address is masked as the ops API masks it, and the page has no content to show: the ledger
 * answers no nonce and no ciphertext, and keeps no frame once a note is sent.
 */

import type { Context } from "hono";
import { html } from "hono/html";
import { parseWith } from "../http/body.ts";
import type { NoteTimeline, TimelineStep } from "../ledger/timeline.ts";
import { deadLetterId } from "../ops/dead-letter-id.ts";
import { readTimeline } from "../ops/dead-letters.ts";
import { maskRecipient } from "../ops/list-dead-letters.ts";
import type { ConsoleEnv } from "./guard.ts";
import { duration, type Html, page, respond, seeOther, utc } from "./layout.ts";
import { notePath, PATHS } from "./paths.ts";

const STEP_LABELS: Record<TimelineStep["kind"], string> = {
  sent: "sent: the provider took it",
  retrying: "attempt failed, retrying",
  failed: "refused: a dead letter",
  dead: "retries ran out: a dead letter",
  undecodable: "undecodable: a dead letter",
  replayed: "replayed by an operator: back on the queue",
  delivered: "delivered (provider webhook)",
  bounced: "bounced (provider webhook)",
  complained: "marked as spam (provider webhook)",
  discarded: "discarded by an operator",
};

/** GET ?id=…: the finder in every page's header; a pasted id may carry spaces or capitals. */
export function findNote(c: Context<ConsoleEnv>): Response {
  const id = parseWith(deadLetterId, (c.req.query("id") ?? "").trim().toLowerCase(), "id");
  return seeOther(c, notePath(id));
}

export async function showNote(c: Context<ConsoleEnv>): Promise<Response> {
  const id = parseWith(deadLetterId, c.req.param("id"), "id");
  const timeline = await readTimeline(c.env, id);
  const csrf = c.get("csrf");
  if (timeline === null) {
    const body = html`<p class="note warn">The ledger knows no note <code>${id}</code>. It keeps a note 22 days after its first
attempt (a dead letter 30), and a note accepted moments ago appears once deliver first takes it from the queue.</p>`;
    return respond(c, page("Note not found", csrf, body), 404);
  }
  return respond(c, page("Note", csrf, noteBody(timeline)));
}

function noteBody(note: NoteTimeline): Html {
  const start = note.acceptedAt ?? note.steps[0]?.at ?? note.updatedAt;
  const deadLetter =
    note.deadLetter === null
      ? ""
      : html`<p class="note bad">A dead letter${note.deadLetter.possiblySent ? ", possibly sent already" : ""}:
<a href="${PATHS.deadLetters}?reason=${note.errorCode ?? ""}">replay or discard it among the dead letters</a>.</p>`;
  return html`<dl>
<dt>id</dt><dd><code>${note.id}</code></dd>
<dt>state</dt><dd><strong>${note.state}</strong>${note.errorCode === null ? "" : html` (<code>${note.errorCode}</code>)`}</dd>
<dt>to</dt><dd>${note.recipient === null ? "not kept once a note is sent" : maskRecipient(note.recipient)}</dd>
<dt>attempts</dt><dd>${note.attempts}</dd>
${note.error === null ? "" : html`<dt>last error</dt><dd>${note.error}</dd>`}
${note.nextAttemptAt === null ? "" : html`<dt>next attempt</dt><dd>${utc(note.nextAttemptAt)}</dd>`}
</dl>${deadLetter}
<h2>Timeline</h2>
<table><thead><tr><th>when (UTC)</th><th class="num">after accepted</th><th>what</th><th>code</th><th class="num">next try in</th></tr></thead><tbody>
${note.acceptedAt === null ? "" : html`<tr><td>${utc(note.acceptedAt)}</td><td class="num">0</td><td>accepted by ingest</td><td></td><td></td></tr>`}
${note.steps.map(
  (
    step,
    i,
  ) => html`${i === 1 && note.stepsOmitted ? html`<tr><td colspan="5">… earlier steps not kept (at most 24 a note)</td></tr>` : ""}<tr>
<td>${utc(step.at)}</td><td class="num">${duration(Math.max(0, step.at - start))}</td><td>${STEP_LABELS[step.kind]}</td>
<td>${step.code ?? ""}</td><td class="num">${step.delaySeconds === undefined ? "" : duration(step.delaySeconds * 1000)}</td></tr>`,
)}
${note.steps.length === 0 ? html`<tr><td colspan="5">No step recorded yet${note.state === "queued" ? ": waiting for its first attempt" : ""}.</td></tr>` : ""}
</tbody></table>`;
}
