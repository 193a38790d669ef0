/**
 * README.md's contract tables are the rows the stand-in is built from, row for row and word for
 * word: a rule changed in one place and not the other fails here.
 */

import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import {
  CLOUDFLARE_EMAIL_CONTRACT,
  type ContractRow,
  contractTableCells,
  POSTMARK_CONTRACT,
  RESEND_CONTRACT,
} from "../src/index.ts";

const README = readFileSync(new URL("../README.md", import.meta.url), "utf8");

/** The body rows of the first table under `### <heading>`, each split into trimmed cells. */
function tableUnder(heading: string): string[][] {
  const start = README.indexOf(`\n### ${heading}\n`);
  if (start === -1) throw new Error(`README.md has no "### ${heading}" section`);
  const lines = README.slice(start).split("\n").slice(2);
  const table = lines.slice(lines.findIndex((line) => line.startsWith("|")));
  const end = table.findIndex((line) => !line.startsWith("|"));
  return (end === -1 ? table : table.slice(0, end)).slice(2).map((line) =>
    line
      .slice(1, -1)
      .split(" | ")
      .map((cell) => cell.trim()),
  );
}

describe.each([
  ["Resend", RESEND_CONTRACT],
  ["Postmark", POSTMARK_CONTRACT],
  ["Cloudflare Email Service", CLOUDFLARE_EMAIL_CONTRACT],
] as [string, readonly ContractRow[]][])("the %s contract in README.md", (heading, rows) => {
  it("is the contract's rows, in order", () => {
    expect(tableUnder(heading)).toEqual(contractTableCells(rows));
  });

  it("gives every row a source and a unique name", () => {
    for (const row of rows) expect(row.source).toMatch(/^https:\/\/\S+(?:, https:\/\/\S+)*$/);
    expect(new Set(rows.map((row) => row.id)).size).toBe(rows.length);
  });
});
