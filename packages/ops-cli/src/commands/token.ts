/**
 * `pnpm ops token <email>`: a client token for that recipient, signed with `TOKEN_SECRETS` from
 * the environment (the JSON the ingest Worker reads), else the local stack's `.dev.vars`.
 * `pnpm ops token revoke <email>`: refuses that recipient's tokens issued until now, through the
 * ops API (POST /ops/tokens/revoke).
 */

import { isValidRecipient } from "@notepipe/frame";
import { DEV_TOKEN_SECRETS, parseTokenSecrets, signClientToken, type TokenSecrets } from "@notepipe/token";
import type { Command } from "commander";
import { CliError } from "../errors.ts";
import type { CommandContext } from "../program.ts";

export function addTokenCommand(program: Command, context: CommandContext): void {
  const token = program
    .command("token")
    .description("a client token for one recipient (env TOKEN_SECRETS, else the dev secrets)")
    .argument("<email>", "the recipient the token may send to")
    .option("--kid <kid>", "which key of TOKEN_SECRETS signs it (needed when it has several)")
    .action(async (email: string, options: { kid?: string }) => {
      // Ingest refuses such a frame before it looks at the token: a token for it would be useless.
      if (!isValidRecipient(email)) throw new CliError("usage", `"${email}" is not an address notepipe sends to.`);
      let secrets: TokenSecrets;
      try {
        secrets = parseTokenSecrets(
          context.io.env.TOKEN_SECRETS ?? context.devVars().TOKEN_SECRETS ?? DEV_TOKEN_SECRETS,
        );
      } catch (error) {
        throw new CliError("usage", `TOKEN_SECRETS: ${(error as Error).message}`);
      }
      const kids = [...secrets.keys()];
      const kid = options.kid ?? (kids.length === 1 ? kids[0] : undefined);
      if (kid === undefined) {
        throw new CliError("usage", `TOKEN_SECRETS has several kids (${kids.join(", ")}); choose one with --kid.`);
      }
      if (!secrets.has(kid))
        throw new CliError("usage", `TOKEN_SECRETS has no kid "${kid}" (it has ${kids.join(", ")}).`);
      context.print(await signClientToken(secrets, kid, email));
    });
  token
    .command("revoke")
    .description("refuse every client token of one recipient issued until now; its app enrols again")
    .argument("<email>", "the recipient whose tokens to revoke")
    .action(async (email: string, _options: unknown, command: Command) => {
      if (!isValidRecipient(email)) throw new CliError("usage", `"${email}" is not an address notepipe sends to.`);
      const revoked = await context.client(command).revokeTokens(email);
      if (context.options(command).json) return context.print(JSON.stringify(revoked, null, 2));
      context.print(
        `revoked: ${revoked.to}'s tokens issued before ${revoked.notBefore} are refused within ${revoked.appliesWithinSeconds} s`,
      );
    });
}
