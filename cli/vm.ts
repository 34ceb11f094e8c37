// `centaurus vm console NS/NAME`: a VirtualMachine's serial console, which its launcher passes
// through to its log: printed from the guest's boot on, then followed as the guest writes.

import { parseArgs } from "node:util";
import { launcherName, type VirtualMachine, VirtualMachineResource } from "../controllers/compute/api.ts";
import { connect } from "../pkg/kube/config.ts";
import { isNotFound } from "../pkg/kube/errors.ts";

export const VM_HELP = `centaurus vm — VirtualMachines

Usage:
  centaurus vm console NS/NAME [--no-follow]   the guest's serial console (its launcher's log),
                                               followed until Ctrl-C or the launcher ends

Uses $KUBECONFIG (or ~/.kube/config). Needs get on virtualmachines and pods/log in NS.
`;

/** NS/NAME, or NAME in the default namespace. */
export function parseVmRef(ref: string): { namespace: string; name: string } | undefined {
  const parts = ref.split("/");
  if (parts.length === 1 && parts[0]) return { namespace: "default", name: parts[0] };
  if (parts.length === 2 && parts[0] && parts[1]) return { namespace: parts[0], name: parts[1] };
  return undefined;
}

export async function runVm(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { "no-follow": { type: "boolean" }, help: { type: "boolean", short: "h" } },
  });
  const [sub, ref] = positionals;
  if (values.help || sub !== "console" || !ref) {
    process.stdout.write(VM_HELP);
    return values.help ? 0 : 2;
  }
  const target = parseVmRef(ref);
  if (!target) {
    process.stderr.write(`"${ref}" is not NS/NAME\n`);
    return 2;
  }
  const client = await connect();
  const abort = new AbortController();
  process.once("SIGINT", () => abort.abort());
  try {
    const vm = await client.get<VirtualMachine>(VirtualMachineResource, target.name, target.namespace);
    const pod = vm.status?.launcherPod ?? launcherName(target.name);
    if (vm.status?.phase === "Stopped") {
      process.stderr.write(`VM ${ref} is stopped: no console (set spec.powerState: Running)\n`);
      return 1;
    }
    const path = `/api/v1/namespaces/${target.namespace}/pods/${pod}/log`;
    await client.getText(
      path,
      { container: "compute", follow: values["no-follow"] ? undefined : "true" },
      { onData: (t) => process.stdout.write(t), signal: abort.signal },
    );
    return 0;
  } catch (err) {
    if (abort.signal.aborted) return 0;
    if (isNotFound(err)) {
      process.stderr.write(`VM ${ref} or its launcher does not exist (yet): ${(err as Error).message}\n`);
      return 1;
    }
    // The launcher still starting (init containers copying the disk) answers 400.
    process.stderr.write(`no console for ${ref}: ${(err as Error).message}\n`);
    return 1;
  } finally {
    client.close();
  }
}
