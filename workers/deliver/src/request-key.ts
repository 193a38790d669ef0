/**
 * The Idempotency-Key of a request made of notes no earlier request may have delivered: derived
 * from the set of their ids, so that the same notes redelivered together get the same key and the
 * provider dedupes them. An ops replay (`replayedAt`) gets a new key: the provider must not answer
 * a deliberate resend with the answer it cached for the failed first one.
 */

export interface KeyedNote {
  id: string;
  replayedAt?: number;
}

/**
 * @example
 * await requestKeyFor([{ id: "3b241101-e2bb-4255-8caf-4136c566a962" }]); // "notepipe-v1-<43 base64url chars>"
 */
export async function requestKeyFor(notes: readonly KeyedNote[]): Promise<string> {
  const parts = notes.map((note) => (note.replayedAt === undefined ? note.id : `${note.id}@${note.replayedAt}`));
  parts.sort();
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(parts.join(",")));
  // 55 characters; Resend takes up to 256.
  return `notepipe-v1-${new Uint8Array(digest).toBase64({ alphabet: "base64url", omitPadding: true })}`;
}
