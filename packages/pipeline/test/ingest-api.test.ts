/**
 * The error table a reader of README.md sees is the one ingest answers with: every code of
 * INGEST_ERRORS is a row with its status, and no row names a code ingest does not have.
 */

import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { INGEST_ERRORS } from "../src/index.ts";

const README = new URL("../../../README.md", import.meta.url);

/** `status code` for every code in the rows of the Markdown table under `heading`. */
function documentedCodes(markdown: string, heading: string): string[] {
  const start = markdown.indexOf(`\n${heading}\n`);
  if (start === -1) throw new Error(`no "${heading}" section`);
  const rows = markdown
    .slice(start + heading.length + 2)
    .split("\n")
    .filter((line) => /^\|\s*\d{3}\s*\|/.test(line));
  return rows.flatMap((row) => {
    const [status, codes] = row
      .split("|")
      .slice(1, 3)
      .map((cell) => cell.trim());
    return [...(codes ?? "").matchAll(/`([a-z_]+)`/g)].map((match) => `${status} ${match[1]}`);
  });
}

describe("README.md's error table", () => {
  it("lists every code ingest answers with, under its status, and no other", () => {
    const documented = documentedCodes(readFileSync(README, "utf8"), "### Errors");
    const answered = Object.entries(INGEST_ERRORS).map(([code, [status]]) => `${status} ${code}`);
    expect(documented.toSorted()).toEqual(answered.toSorted());
  });
});
