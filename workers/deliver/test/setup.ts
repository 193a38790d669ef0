/** Runs before every deliver test file: what one test's provider said must not pace the next test's sends. */

import { beforeEach } from "vitest";
import { resetPacing } from "../src/providers/pace.ts";

beforeEach(() => {
  resetPacing();
});
