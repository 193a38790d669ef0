import { expect, it } from "vitest";
import { decodeFrame } from "../src/index.ts";

it("refuses garbage", () => {
  expect(decodeFrame(new Uint8Array([1, 2, 3]))).toMatchObject({ ok: false, error: "bad_magic" });
});
