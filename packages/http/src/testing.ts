/**
 * For tests of either Worker (`@notepipe/http/testing`): a request body that records what the
 * Worker pulled from it, which is how a test sees a body left unread.
 */

export interface CountingBody {
  body: ReadableStream<Uint8Array>;
  /** Bytes handed to the Worker so far. */
  pulled(): number;
  /** Whether the Worker cancelled the stream. */
  cancelled(): boolean;
}

/** `totalBytes` of zeros in chunks of `chunkBytes`, each made only when the Worker reads it. */
export function countingBody(totalBytes: number, chunkBytes = 16 * 1024): CountingBody {
  let pulled = 0;
  let cancelled = false;
  const body = new ReadableStream<Uint8Array>(
    {
      pull(controller) {
        const size = Math.min(chunkBytes, totalBytes - pulled);
        pulled += size;
        controller.enqueue(new Uint8Array(size));
        if (pulled === totalBytes) controller.close();
      },
      cancel() {
        cancelled = true;
      },
    },
    // No read-ahead: a chunk is made only when the Worker asks for one.
    { highWaterMark: 0 },
  );
  return { body, pulled: () => pulled, cancelled: () => cancelled };
}
