// Makes sure Debian's Chromium is at /usr/bin/chromium before the browser tests run: `pnpm test`
// calls this first, on a developer's machine and in CI alike (.ci/run runs `pnpm test`). A browser
// download of playwright's own cannot work here (only the npm and Debian registries are reached),
// and Debian's package brings the shared libraries Chromium needs, which a Chromium inside an npm
// package (@sparticuz/chromium) leaves to the machine. Installing needs root and apt-get: without
// them this says how, and the run goes on (the browser tests then fail with the same sentence).
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";

const CHROMIUM = "/usr/bin/chromium";

if (!existsSync(CHROMIUM)) {
  const isRoot = typeof process.getuid === "function" && process.getuid() === 0;
  const hasApt = spawnSync("sh", ["-c", "command -v apt-get"], { stdio: "ignore" }).status === 0;
  if (isRoot && hasApt) {
    console.log("ensure-chromium: installing Debian's chromium for the browser tests (once per machine)…");
    const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
    const update = spawnSync("apt-get", ["update", "-qq"], { stdio: "inherit", env });
    const install =
      update.status === 0
        ? spawnSync("apt-get", ["install", "-y", "-qq", "chromium"], { stdio: ["ignore", "ignore", "inherit"], env })
        : update;
    if (install.status !== 0 || !existsSync(CHROMIUM)) {
      console.error("ensure-chromium: apt-get could not install chromium; the browser tests will fail.");
    }
  } else {
    console.error(
      `ensure-chromium: ${CHROMIUM} is missing; install it with: sudo apt-get install -y chromium (Debian/Ubuntu).`,
    );
  }
}
