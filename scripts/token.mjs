// Prints a client token for the local stack: `pnpm -s token ada@example.com [--kid dev]`.
// Signs with the dev TOKEN_SECRETS that `pnpm dev` runs with; TOKEN_SECRETS in the environment
// (the same JSON the Worker reads) overrides it, e.g. to mint a token for a real deployment.
import { parseArgs } from "node:util";
import { isValidRecipient } from "@notepipe/frame";
import { DEV_TOKEN_SECRETS, parseTokenSecrets, signClientToken } from "@notepipe/token";

const usage = "usage: pnpm -s token <email> [--kid <kid>]   (env TOKEN_SECRETS overrides the dev secret)";

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
  secrets = parseTokenSecrets(process.env.TOKEN_SECRETS ?? DEV_TOKEN_SECRETS);
} catch (error) {
  fail(error.message);
}
const kids = [...secrets.keys()];
const kid = values.kid ?? (kids.length === 1 ? kids[0] : undefined);
if (kid === undefined) fail(`TOKEN_SECRETS has several kids (${kids.join(", ")}); choose one with --kid`);
if (!secrets.has(kid)) fail(`no kid "${kid}" in TOKEN_SECRETS (it has ${kids.join(", ")})`);

console.log(await signClientToken(secrets, kid, recipient));
