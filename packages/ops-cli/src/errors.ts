/**
 * How `pnpm ops` ends: one exit code per kind of outcome, so that a script can tell "run it again
 * later" from "fix the URL" from "fix the token". A new kind is one line in {@link EXIT_CODES}
 * (and one in README.md); {@link CliError} carries the code and a one-line message.
 */

export const EXIT_CODES = {
  ok: 0,
  /** Done, but not all of it: a replay left notes it could not send, a discard found no entry. */
  incomplete: 1,
  /** A bad flag, argument or value: nothing was sent. */
  usage: 2,
  /** The ops API refused the token (401/403). */
  refused: 3,
  /** The ops API could not be reached: connection refused, unknown host, timeout. */
  unreachable: 4,
  /** Something answered, but not the ops API: a wrong URL. */
  not_ops_api: 5,
  /** The ops API failed (5xx), or its secret is not set. */
  server_error: 6,
} as const;

export type ExitKind = keyof typeof EXIT_CODES;

export class CliError extends Error {
  readonly kind: ExitKind;

  constructor(kind: ExitKind, message: string) {
    super(message);
    this.name = "CliError";
    this.kind = kind;
  }

  get exitCode(): number {
    return EXIT_CODES[this.kind];
  }
}
