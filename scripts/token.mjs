// Prints a client token for the local stack: `pnpm -s token ada@example.com [--kid dev]`.
// Signs with the TOKEN_SECRETS the local stack runs with, read as every local tool reads it
// (@notepipe/local-stack: the environment, else .dev.vars, else .dev.vars.example), so a token minted
// after an edit of .dev.vars is one the running stack accepts; TOKEN_SECRETS in the environment also
// mints for a real deployment.
import { parseArgs } from "node:util";
import { isValidRecipient } from "@notepipe/frame";
import { readDevVars } from "@notepipe/local-stack";
import { DEV_TOKEN_SECRETS, parseTokenSecrets, signClientToken } from "@notepipe/token";

const usage = "usage: pnpm -s token <email> [--kid <kid>]   (env TOKEN_SECRETS overrides .dev.vars)";

function fail(message) {
  console.error(`token: ${message}`);
  console.error(usage);
  process.exit(2);
}

let parsed;
try {
  parsed = parseArgs({
    allowPositionals: true,
    options: { kid: { type: "string" }, help: { type: "boolean", short: "h" } },
  });
} catch (error) {
  fail(error.message);
}
const { values, positionals } = parsed;
if (values.help) {
  console.log(usage);
  process.exit(0);
}
if (positionals.length !== 1) fail("give exactly one email address");
const [recipient] = positionals;
// The Worker refuses such a frame before it looks at the token, so a token for it is useless.
if (!isValidRecipient(recipient)) fail(`"${recipient}" is not an address frame v1 accepts`);

let secrets;
try {
  secrets = parseTokenSecrets(readDevVars().TOKEN_SECRETS ?? DEV_TOKEN_SECRETS);
} catch (error) {
  fail(error.message);
}
const kids = [...secrets.keys()];
const kid = values.kid ?? (kids.length === 1 ? kids[0] : undefined);
if (kid === undefined) fail(`TOKEN_SECRETS has several kids (${kids.join(", ")}); choose one with --kid`);
if (!secrets.has(kid)) fail(`no kid "${kid}" in TOKEN_SECRETS (it has ${kids.join(", ")})`);

console.log(await signClientToken(secrets, kid, recipient));
