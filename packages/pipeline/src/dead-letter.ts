/**
 * Dead letters: notes deliver gave up on, held by the deliver Worker's delivery ledger
 * (workers/deliver/src/ledger/ledger.ts) so that ops can list, replay or discard them.
 */

import type { DeliveryErrorCode } from "./index.ts";

/**
 * 30 days, as the status records: a note's dead letter and its `dead`/`failed` record expire
 * together, and an operator has a month to fix the cause and replay. The queue itself is no
 * backup: Queues keeps a message at most 14 days, and a consumed one not at all.
 */
export const DEAD_LETTER_TTL_SECONDS = 30 * 24 * 60 * 60;

/** One dead letter, as the ledger lists it. */
export interface DeadLetter {
  /** The note id (a UUID), or `msg-<queue message id>` for a message with no readable note id. */
  id: string;
  /** The frame exactly as the queue carried it, standard base64; "" when the body held no frame. */
  frame: string;
  reason: DeliveryErrorCode;
  /** One sentence for an operator; no address and no content. */
  message: string;
  /** Send attempts made, as last recorded (see workers/deliver/README.md, "Dead letters"). */
  attempts: number;
  /** ISO 8601. */
  firstFailureAt: string;
  /** ISO 8601. */
  lastFailureAt: string;
  /**
   * The provider may already have taken this note (a send under its key was never answered, or
   * the provider said the key was used before). A replay may then deliver it twice.
   */
  possiblySent: boolean;
  /** The message's `acceptedAt` (ms since the epoch), or null if the body had none. */
  acceptedAt: number | null;
  replayedAt?: number;
}

/** One entry as ops sees it: `GET /ops/dead-letters` answers these, `pnpm ops` reads them. */
export type DeadLetterView = Pick<
  DeadLetter,
  "id" | "reason" | "message" | "attempts" | "firstFailureAt" | "lastFailureAt" | "possiblySent"
> & {
  /** `j***@example.com`, or null when the stored frame does not decode. */
  recipient: string | null;
  /** ISO 8601, or null when the queued message had none. */
  acceptedAt: string | null;
  replayedAt?: string;
};
