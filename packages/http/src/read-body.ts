/**
 * A request body read with a cap, for every route of both Workers that reads one. Hand-written: it
 * is on ingest's hot path (POST /v1/notes).
 *
 * `request.arrayBuffer()` reads a body whole before its size can be checked, so a body sent without
 * Content-Length (chunked) of any size would be held in the isolate's 128 MB first. Such a body is
 * counted as it arrives instead, and its stream cancelled at the first chunk past the cap: it costs
 * at most the cap plus one chunk of memory.
 *
 * A body that declares its length, at most the cap, is read with `arrayBuffer()`: the HTTP layer
 * frames it by that length (RFC 9112 §6.3; RFC 9113 §8.1.1 makes more DATA a malformed request), so
 * it cannot hold more. Counting it too cost what the hot path cannot spare: the runtime hands a
 * reader a body in 4 KiB chunks, and in `pnpm bench` ingest (bindings stubbed) went from 1.3–1.55×
 * a bare Worker's CPU to 1.7× for a 1.6 KB note, from 1.2–1.3× to 3.4× for a 64 KB one.
 */

const EMPTY = new Uint8Array(0);

/**
 * The body's bytes, or `undefined` if it holds or declares more than `maxBytes` (then nothing more
 * is pulled and the stream is cancelled). The bytes own their buffer exactly, so that a structured
 * clone (a queue message sent as v8) carries them and nothing around them.
 *
 * @example
 * const frame = await readBodyUpTo(request, MAX_FRAME_BYTES);
 * if (frame === undefined) throw new ApiError("frame_too_large");
 */
export async function readBodyUpTo(request: Request, maxBytes: number): Promise<Uint8Array<ArrayBuffer> | undefined> {
  const headers = request.headers;
  const declared = headers.get("content-length");
  // With Transfer-Encoding too, the HTTP layer frames the body by that instead (RFC 9112 §6.3): count it.
  if (declared !== null && declared !== "" && !headers.has("transfer-encoding")) {
    const length = Number(declared);
    if (Number.isSafeInteger(length) && length >= 0) {
      if (length > maxBytes) return undefined;
      return new Uint8Array(await request.arrayBuffer());
    }
  }
  return countBody(request.body as ReadableStream<Uint8Array<ArrayBuffer>> | null, maxBytes);
}

async function countBody(
  body: ReadableStream<Uint8Array<ArrayBuffer>> | null,
  maxBytes: number,
): Promise<Uint8Array<ArrayBuffer> | undefined> {
  if (body === null) return EMPTY;
  const reader = body.getReader();
  const chunks: Uint8Array<ArrayBuffer>[] = [];
  let total = 0;
  for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) {
    total += chunk.value.byteLength;
    if (total > maxBytes) {
      // The answer is a 413 either way; a stream that fails to cancel changes nothing about it.
      await reader.cancel().catch(() => undefined);
      return undefined;
    }
    chunks.push(chunk.value);
  }
  const bytes = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return bytes;
}
