// The VM launcher image and the test guest's container disk, built by
// hack/build-launcher-image.sh (cached by content) and imported into a cluster's real node.

import { execFile } from "node:child_process";
import { hackScript } from "./binaries.ts";

const script = hackScript("build-launcher-image.sh");

/** Builds both images (when their inputs changed) and loads them into `cluster`'s real node. */
export function loadLauncherImages(cluster: string): Promise<{ launcher: string; guestDisk: string }> {
  return new Promise((resolve, reject) => {
    execFile("bash", [script, "--load", cluster], { maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      if (err)
        return reject(
          new Error(`building the launcher image failed: ${err.message}\n${stderr.slice(-3000)}`),
        );
      const [launcher = "", guestDisk = ""] = (stdout.trim().split("\n").pop() ?? "").split(" ");
      resolve({ launcher, guestDisk });
    });
  });
}
