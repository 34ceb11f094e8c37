// Stopping the processes a local cluster started, in bounded time. `kill(pid, 0)` answers for
// a zombie too (an exited process its parent has not reaped yet), so waiting on it alone can
// wait forever when the starting process is busy or gone; a zombie counts as dead here, and
// anything that outlives SIGTERM and then SIGKILL is reported by name instead of waited for.

import { readFileSync } from "node:fs";

/** What /proc says of a pid: "Z" zombie, "D" uninterruptible sleep, "R"/"S"/..., or gone. */
export function processState(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // "pid (comm) S ...": comm may hold spaces and parentheses, the state follows the last ")".
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[0];
  } catch {
    return undefined;
  }
}

/** Whether pid is a live process: it answers signals and (where /proc exists) is no zombie. */
export function isAlive(pid: number | undefined): boolean {
  if (!pid) return false;
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  const state = processState(pid);
  return state !== "Z" && state !== "X";
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // Gone between the check and the signal: nothing to stop.
  }
}

async function waitGone(pids: number[], deadline: number): Promise<void> {
  while (pids.some(isAlive) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
}

export interface StopOptions {
  /** How long SIGTERM is given before SIGKILL (0: SIGKILL at once). */
  graceMs: number;
  /** How long a SIGKILLed process is given to disappear before it is reported. */
  killWaitMs?: number;
}

/** A process that would not stop: its name, pid and /proc state (D: stuck in the kernel). */
export interface Survivor {
  name: string;
  pid: number;
  state: string;
}

/**
 * Stops every named process at once: SIGTERM, SIGKILL for those alive after graceMs, and
 * returns those still alive killWaitMs later. Never waits longer than graceMs + killWaitMs.
 */
export async function stopProcesses(procs: Record<string, number>, opts: StopOptions): Promise<Survivor[]> {
  const live = Object.entries(procs).filter(([, pid]) => isAlive(pid));
  const pids = live.map(([, pid]) => pid);
  if (opts.graceMs > 0) {
    for (const pid of pids) signal(pid, "SIGTERM");
    await waitGone(pids, Date.now() + opts.graceMs);
  }
  for (const pid of pids.filter(isAlive)) signal(pid, "SIGKILL");
  await waitGone(pids, Date.now() + (opts.killWaitMs ?? 3000));
  return live
    .filter(([, pid]) => isAlive(pid))
    .map(([name, pid]) => ({ name, pid, state: processState(pid) ?? "?" }));
}

/** The message for processes that would not stop: what they are and what the user can do. */
export function survivorsMessage(what: string, survivors: Survivor[]): string {
  const list = survivors.map((s) => `${s.name} (pid ${s.pid}, state ${s.state})`).join(", ");
  const stuck = survivors.some((s) => s.state === "D")
    ? " A process in state D waits on the kernel (often a hung disk or network mount) and dies once that returns."
    : "";
  return `${what}: ${list} would not stop, even after SIGKILL.${stuck} Check them with: ps -o pid,stat,cmd -p ${survivors.map((s) => s.pid).join(",")}`;
}
