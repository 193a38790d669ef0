/**
 * GET /v1/notes/:id: one note's delivery status. No token needed: the id's 128 random bits are the
 * key. One KV read, so one of its client's allowance (src/status-poll-limit.ts).
 */

import { isNoteUuid } from "@notepipe/frame";
import { type StatusRecord, statusKey } from "@notepipe/pipeline";
import type { Context } from "hono";
import { ApiError } from "../errors.ts";
import type { IngestEnv } from "../index.ts";
import { NO_STORE, toNoteStatus } from "../note-status.ts";
import { limitStatusPoll } from "../status-poll-limit.ts";

export async function getNoteStatus(c: Context<IngestEnv>): Promise<Response> {
  const id = c.req.param("id");
  if (id === undefined || !isNoteUuid(id)) throw new ApiError("bad_id");
  await limitStatusPoll(c, 1);
  const record = await c.env.STATUS.get<StatusRecord>(statusKey(id), "json");
  // Ingest never writes a record: until deliver has seen the note there is none.
  if (record === null) throw new ApiError("not_found", { message: "No status for this note yet." });
  return c.json(toNoteStatus(record), 200, NO_STORE);
}
