/**
 * Where the console's pages live. The overview is `/ops/` itself; the rest sit under
 * `/ops/console/`, apart from the ops API's JSON routes (`/ops/dead-letters`, `/ops/stats`), and
 * ingest forwards all of them to deliver as it forwards the API (`/ops/*`).
 */
export const PATHS = {
  overview: "/ops/",
  signIn: "/ops/console/sign-in",
  signOut: "/ops/console/sign-out",
  deadLetters: "/ops/console/dead-letters",
  replay: "/ops/console/dead-letters/replay",
  discard: "/ops/console/dead-letters/discard",
  notes: "/ops/console/notes",
} as const;

/** A note's page. */
export function notePath(id: string): string {
  return `${PATHS.notes}/${encodeURIComponent(id)}`;
}
