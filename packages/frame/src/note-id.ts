/**
 * The note id is 16 random bytes in the frame and a lowercase canonical UUID string in the HTTP
 * API, in KV keys and in idempotency keys.
 */

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * @example
 * noteIdToUuid(frame.noteId); // "0f8e…-…"
 */
export function noteIdToUuid(id: Uint8Array): string {
  // Without this a short id would spell "undefined" into the UUID instead of failing.
  if (id.length !== 16) throw new RangeError(`A note id is 16 bytes; this one has ${id.length}.`);
  let s = "";
  for (let i = 0; i < 16; i++) {
    if (i === 4 || i === 6 || i === 8 || i === 10) s += "-";
    s += HEX[id[i] as number];
  }
  return s;
}

/**
 * Whether a string is a note id as the API spells it: a lowercase canonical UUID.
 *
 * @example
 * isNoteUuid("3b241101-e2bb-4255-8caf-4136c566a962"); // true
 */
export function isNoteUuid(value: string): boolean {
  return UUID.test(value);
}

/**
 * @example
 * uuidToNoteId("3b241101-e2bb-4255-8caf-4136c566a962"); // Uint8Array(16)
 */
export function uuidToNoteId(uuid: string): Uint8Array {
  if (!isNoteUuid(uuid)) throw new RangeError(`Not a lowercase canonical UUID: ${uuid}`);
  const hex = uuid.replaceAll("-", "");
  const out = new Uint8Array(16);
  for (let i = 0; i < 16; i++) out[i] = Number.parseInt(hex.slice(i * 2, i * 2 + 2), 16);
  return out;
}
