/**
 * POST /v1/notes/status `{"ids": [...]}`: the "poll on next open" call, one entry per id in
 * request order, `"state": "unknown"` where there is no record. No token needed, like GET
 * /v1/notes/:id; the poll spends one of its client's allowance per distinct id (src/status-poll-limit.ts).
 */

import { isNoteUuid } from "@notepipe/frame";
import { hasMediaType, readBodyUpTo } from "@notepipe/http";
import {
  MAX_STATUS_IDS,
  type NoteStatus,
  type NoteStatusList,
  type NoteStatusQuery,
  type StatusRecord,
  statusKey,
} from "@notepipe/pipeline";
import type { Context } from "hono";
import * as z from "zod/mini";
import { ApiError } from "../errors.ts";
import type { IngestEnv } from "../index.ts";
import { NO_STORE, toNoteStatus } from "../note-status.ts";
import { limitStatusPoll } from "../status-poll-limit.ts";

/**
 * 100 ids of 38 JSON bytes each, plus slack for whitespace; refused before JSON.parse runs, and
 * counted as the body arrives: no more than this and one chunk of it is ever read.
 */
const MAX_BODY_BYTES = 8192;

// zod/mini: the classic build does not tree-shake (all its locales would ship in the bundle).
const StatusQuery = z.object({
  ids: z.array(z.string().check(z.refine(isNoteUuid))).check(z.minLength(1), z.maxLength(MAX_STATUS_IDS)),
});

export async function postNotesStatus(c: Context<IngestEnv>): Promise<Response> {
  const request = c.req.raw;
  if (!hasMediaType(request.headers.get("content-type"), "application/json")) {
    throw new ApiError("unsupported_media_type", { message: "Send the ids as application/json." });
  }
  const declaredLength = request.headers.get("content-length");
  if (declaredLength !== null && Number(declaredLength) > MAX_BODY_BYTES) throw new ApiError("body_too_large");
  const bytes = await readBodyUpTo(request, MAX_BODY_BYTES);
  if (bytes === undefined) throw new ApiError("body_too_large");

  let body: unknown;
  try {
    body = JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    throw new ApiError("bad_request");
  }
  const query = StatusQuery.safeParse(body);
  if (!query.success) throw queryError(query.error);
  const { ids }: NoteStatusQuery = query.data;

  const keys = [...new Set(ids.map(statusKey))];
  await limitStatusPoll(c, keys.length);
  const records = await c.env.STATUS.get<StatusRecord>(keys, "json");
  const notes = ids.map((id): NoteStatus => {
    const record = records.get(statusKey(id));
    return record ? toNoteStatus(record) : { id, state: "unknown" };
  });
  return c.json({ notes } satisfies NoteStatusList, 200, NO_STORE);
}

function queryError(error: z.core.$ZodError): ApiError {
  const issue = error.issues[0];
  const [field, index] = issue?.path ?? [];
  if (field === "ids" && typeof index === "number") {
    return new ApiError("bad_id", { message: `ids[${index}] is not a note id (a lowercase canonical UUID).` });
  }
  if (field === "ids" && (issue?.code === "too_big" || issue?.code === "too_small")) {
    return new ApiError("bad_request", { message: `ids must hold 1 to ${MAX_STATUS_IDS} note ids.` });
  }
  return new ApiError("bad_request");
}
