/**
 * The shape of a provider contract: one row per documented requirement or behaviour, with the page
 * it comes from. resend-contract.ts and postmark-contract.ts hold the rows and the figures the
 * routes enforce; README.md shows the same rows as tables, and test/contract-readme.test.ts keeps
 * the two equal, so the documentation, the stand-in and its README cannot drift apart.
 */

export interface ContractRow {
  /** Stable name of the row: the README, the routes' tests and deliver's contract test use it. */
  id: string;
  /** What the documentation says, in its own terms; where it is silent, the row says so. */
  rule: string;
  /** What the local provider answers or does. */
  localProvider: string;
  /** The page the rule comes from. */
  source: string;
}

/** The rows as the README's table shows them, one line each, cells in column order. */
export function contractTableCells(rows: readonly ContractRow[]): string[][] {
  return rows.map((row) => [`\`${row.id}\``, row.rule, row.localProvider, row.source]);
}
