/**
 * `POST /v1/notes`: one frame, under its token. `send` and the outbox's drain both post through
 * here, so a note is the same request whichever of them sends it.
 */

import type { IngestConnection } from "./config.ts";
import { request } from "./request.ts";

/**
 * Posts `frame` until ingest answers 2xx, with `config.retry`'s attempts; throws like `request`.
 * The same bytes on every attempt: the note id inside the frame is the idempotency key.
 */
export function postFrame(config: IngestConnection, id: string, frame: Uint8Array<ArrayBuffer>, token: string) {
  return request(config, "/v1/notes", frame, { authorization: `Bearer ${token}` }, id);
}
