/**
 * Every email the local provider accepted, in arrival order, with the note id it carries so that
 * tests can count emails per note. Listeners hear each email as it arrives, as the provider's
 * delivery webhooks (webhooks.ts) do.
 */

export type ProviderName = "resend" | "postmark";

export interface InboxEmail {
  /** The id the API answered with (Resend `id`, Postmark `MessageID`). */
  id: string;
  provider: ProviderName;
  from: string;
  to: string[];
  subject: string;
  text: string | null;
  html: string | null;
  headers: Record<string, string>;
  /** Resend tags. */
  tags: { name: string; value: string }[];
  /** Postmark metadata. */
  metadata: Record<string, string>;
  /** From the `note_id` tag or metadata, else the `X-Notepipe-Note-Id` header; `null` if none. */
  noteId: string | null;
  /** The `Idempotency-Key` of the request that created it, if any. */
  idempotencyKey: string | null;
  /** ISO 8601. */
  receivedAt: string;
}

export interface InboxFilter {
  noteId?: string | undefined;
  to?: string | undefined;
  provider?: ProviderName | undefined;
}

export type InboxListener = (email: InboxEmail) => void;

/** Bounds memory in a long `pnpm dev` session; the oldest emails go first. */
export const MAX_INBOX_EMAILS = 10_000;

export const NOTE_ID_HEADER = "x-notepipe-note-id";

/** The note id an email carries: the `note_id` tag or metadata first, the header otherwise. */
export function noteIdOf(
  tags: readonly { name: string; value: string }[],
  metadata: Readonly<Record<string, string>>,
  headers: Readonly<Record<string, string>>,
): string | null {
  const tag = tags.find((t) => t.name === "note_id");
  if (tag !== undefined) return tag.value;
  if (metadata.note_id !== undefined) return metadata.note_id;
  for (const [name, value] of Object.entries(headers)) {
    if (name.toLowerCase() === NOTE_ID_HEADER) return value;
  }
  return null;
}

export class Inbox {
  #emails: InboxEmail[] = [];
  readonly #listeners = new Set<InboxListener>();

  add(email: InboxEmail): void {
    this.#emails.push(email);
    if (this.#emails.length > MAX_INBOX_EMAILS) this.#emails.splice(0, this.#emails.length - MAX_INBOX_EMAILS);
    for (const listener of this.#listeners) listener(email);
  }

  /** Oldest first. */
  list(filter: InboxFilter = {}): InboxEmail[] {
    const to = filter.to?.toLowerCase();
    return this.#emails.filter(
      (email) =>
        (filter.noteId === undefined || email.noteId === filter.noteId) &&
        (filter.provider === undefined || email.provider === filter.provider) &&
        (to === undefined || email.to.some((address) => address.toLowerCase() === to)),
    );
  }

  get size(): number {
    return this.#emails.length;
  }

  clear(): void {
    this.#emails = [];
  }

  /**
   * Calls `listener` for every email accepted from now on; returns the unsubscribe function.
   *
   * @example
   * const stop = inbox.subscribe((email) => console.log(email.noteId));
   */
  subscribe(listener: InboxListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }
}
