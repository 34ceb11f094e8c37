// `centaurus manager`: runs the operator — every selected pillar's controllers in one manager.

import { parseArgs } from "node:util";
import { controllerModules, selectModules } from "../controllers/index.ts";
import { apply } from "../pkg/kube/apply.ts";
import { connect } from "../pkg/kube/config.ts";
import { buildCRD, installCRDs } from "../pkg/kube/crd.ts";
import { parseLogFormat, rootLogger, setLogFormat } from "../pkg/log.ts";
import { Manager } from "../pkg/manager/manager.ts";

export const MANAGER_HELP = `centaurus manager — run the Centaurus operator

Usage: centaurus manager [flags]

Flags:
  --kubeconfig FILE                  cluster to manage (default: $KUBECONFIG, ~/.kube/config, in-cluster)
  --controllers LIST                 which controllers run: all (default) or a comma list of
                                     ${controllerModules.map((m) => m.name).join(", ") || "(none registered yet)"}
  --leader-elect                     elect a leader through a Lease (run several replicas safely)
  --leader-election-namespace NS     where the Lease lives (default: $POD_NAMESPACE or default)
  --metrics-bind-address ADDR        Prometheus /metrics (default :8080; "" disables)
  --health-probe-bind-address ADDR   /healthz and /readyz (default :8081; "" disables)
  --webhook-bind-address ADDR        where the admission webhooks (the tenant quota) listen
                                     (default 127.0.0.1:0: a free port the local API server calls)
  --webhook-service NS/NAME[:PORT]   in a cluster: the Service the API server calls them through
                                     (replicas share one certificate, kept in Secret NAME-tls)
  --webhook-configuration NAME       the ValidatingWebhookConfiguration to write (default centaurus)
  --install-crds                     apply the CRDs and cluster objects first (needs rights to do so)
  --log-format auto|text|json        text: one readable line per entry; json: for log collectors;
                                     auto (default): text on a terminal, json otherwise
`;

/** "ns/name" or "ns/name:port" → the webhook Service. */
export function parseService(text: string): { namespace: string; name: string; port?: number } {
  const m = /^([a-z0-9-]+)\/([a-z0-9-]+)(?::(\d+))?$/.exec(text);
  if (!m?.[1] || !m[2]) {
    throw new Error(`bad --webhook-service "${text}": expected NAMESPACE/NAME or NAMESPACE/NAME:PORT`);
  }
  return { namespace: m[1], name: m[2], ...(m[3] ? { port: Number(m[3]) } : {}) };
}

export async function runManager(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      kubeconfig: { type: "string" },
      controllers: { type: "string", default: "all" },
      "leader-elect": { type: "boolean", default: false },
      "leader-election-namespace": { type: "string", default: process.env.POD_NAMESPACE ?? "default" },
      "metrics-bind-address": { type: "string", default: ":8080" },
      "health-probe-bind-address": { type: "string", default: ":8081" },
      "webhook-bind-address": { type: "string", default: "127.0.0.1:0" },
      "webhook-service": { type: "string" },
      "webhook-configuration": { type: "string", default: "centaurus" },
      "install-crds": { type: "boolean", default: false },
      "log-format": { type: "string", default: "auto" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    process.stdout.write(MANAGER_HELP);
    return 0;
  }
  setLogFormat(parseLogFormat(values["log-format"]));
  const modules = selectModules(values.controllers);
  const client = await connect(values.kubeconfig);
  if (values["install-crds"]) {
    await installCRDs(
      client,
      modules.flatMap((m) => m.crds.map(buildCRD)),
    );
    for (const m of modules.flatMap((mod) => mod.manifests ?? [])) await apply(client, m.resource, m.object);
    rootLogger.info(
      { crds: modules.flatMap((m) => m.crds.map((c) => `${c.plural}.${c.group}`)) },
      "CRDs installed",
    );
  }
  const manager = new Manager({
    client,
    metricsBindAddress: values["metrics-bind-address"],
    healthProbeBindAddress: values["health-probe-bind-address"],
    leaderElection: values["leader-elect"] ? { namespace: values["leader-election-namespace"] } : false,
    webhook: {
      bindAddress: values["webhook-bind-address"],
      configurationName: values["webhook-configuration"],
      ...(values["webhook-service"] ? { service: parseService(values["webhook-service"]) } : {}),
    },
  });
  for (const m of modules) await m.setup(manager, client);
  manager.stopOnSignals();
  await manager.start();
  rootLogger.info(
    {
      controllers: modules.map((m) => m.name),
      metrics: manager.metricsPort,
      probes: manager.healthPort,
      server: client.server.toString(),
    },
    "manager running",
  );
  // Runs until SIGINT/SIGTERM (stopOnSignals exits the process).
  await new Promise(() => undefined);
  return 0;
}
