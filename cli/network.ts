// `centaurus net check <ns/pod-a> <ns/pod-b> [--port P]`: answers from the compiled
// NodeProgram objects alone — what the data plane enforces, not what the policies say.

import { parseArgs } from "node:util";
import { type NodeProgram, NodePrograms } from "../controllers/network/api.ts";
import { checkReachability, type ReachabilityAnswer } from "../controllers/network/netcheck.ts";
import type { KubeClient } from "../pkg/kube/client.ts";
import { connect } from "../pkg/kube/config.ts";
import type { Protocol } from "../pkg/kube/core.ts";

export const NET_HELP = `centaurus net — Mizar networking

Usage:
  centaurus net check <namespace/pod-a> <namespace/pod-b> [--port P] [--protocol TCP|UDP|SCTP]

  Says whether pod A can reach pod B (on port P) and why: their VPC and subnets, and which
  NetworkPolicy allowed or denied the egress of A and the ingress of B. It reads only the
  compiled NodePrograms (the data plane's input). Exit status: 0 reachable, 1 not reachable.

Flags:
  --kubeconfig FILE   cluster to ask (default: $KUBECONFIG, ~/.kube/config)
  --output json       print the answer as JSON
`;

export async function netCheck(
  client: KubeClient,
  from: string,
  to: string,
  opts: { port?: number; protocol?: Protocol } = {},
): Promise<ReachabilityAnswer> {
  const programs = await client.list<NodeProgram>(NodePrograms);
  return checkReachability(
    programs.items.map((p) => p.spec),
    from,
    to,
    opts,
  );
}

export function formatAnswer(from: string, to: string, a: ReachabilityAnswer, port?: number): string {
  const target = port === undefined ? to : `${to} port ${port}`;
  return `${a.reachable ? "REACHABLE" : "NOT REACHABLE"}: ${from} -> ${target}\n${a.reasons.map((r) => `  - ${r}`).join("\n")}\n`;
}

export async function runNet(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub !== "check") {
    process.stdout.write(NET_HELP);
    return sub === undefined || sub === "help" || sub === "--help" ? 0 : 2;
  }
  const { values, positionals } = parseArgs({
    args: rest,
    allowPositionals: true,
    options: {
      port: { type: "string" },
      protocol: { type: "string", default: "TCP" },
      kubeconfig: { type: "string" },
      output: { type: "string", short: "o" },
    },
  });
  if (positionals.length !== 2) {
    process.stderr.write(`net check needs two pods (namespace/name)\n\n${NET_HELP}`);
    return 2;
  }
  const [from = "", to = ""] = positionals;
  const port = values.port === undefined ? undefined : Number(values.port);
  if (port !== undefined && (!Number.isInteger(port) || port < 1 || port > 65535)) {
    process.stderr.write(`--port must be a number from 1 to 65535\n`);
    return 2;
  }
  const protocol = (values.protocol ?? "TCP").toUpperCase();
  if (protocol !== "TCP" && protocol !== "UDP" && protocol !== "SCTP") {
    process.stderr.write(`--protocol must be TCP, UDP or SCTP\n`);
    return 2;
  }
  const client = await connect(values.kubeconfig);
  try {
    const answer = await netCheck(client, from, to, { port, protocol });
    if (values.output === "json") {
      process.stdout.write(`${JSON.stringify({ reachable: answer.reachable, reasons: answer.reasons })}\n`);
    } else process.stdout.write(formatAnswer(from, to, answer, port));
    return answer.reachable ? 0 : 1;
  } finally {
    client.close();
  }
}
