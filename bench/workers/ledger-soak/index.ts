/**
 * The soak's Worker: `POST /start` (a SoakSpec as JSON), `POST /phase?phase=&day=&round=` and
 * `GET /census`, each passed to the one ledger object. bench/ledger-soak.ts reads the workerd
 * process's CPU around each request, so a request is one phase and nothing else.
 */

import type { Phase, SoakLedger, SoakSpec } from "./soak-ledger.ts";

export { SoakLedger } from "./soak-ledger.ts";

interface SoakEnv {
  LEDGER: DurableObjectNamespace<SoakLedger>;
}

export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    const ledger = env.LEDGER.get(env.LEDGER.idFromName("ledger"));
    if (url.pathname === "/start") {
      await ledger.soakStart((await request.json()) as SoakSpec);
      return new Response(null, { status: 204 });
    }
    if (url.pathname === "/phase") {
      const phase = url.searchParams.get("phase") as Phase;
      const day = Number(url.searchParams.get("day"));
      const round = Number(url.searchParams.get("round"));
      return Response.json(await ledger.soakPhase(phase, day, round));
    }
    if (url.pathname === "/census") return Response.json(await ledger.soakCensus());
    return new Response("not found", { status: 404 });
  },
} satisfies ExportedHandler<SoakEnv>;
