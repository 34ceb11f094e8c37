// The operator image, built from the repository's Dockerfile by hack/build-operator-image.sh
// (cached by content) and imported into a cluster's real node.

import { execFile } from "node:child_process";
import { hackScript } from "./binaries.ts";

const script = hackScript("build-operator-image.sh");

/** Builds the image (when its inputs changed) and loads it into `cluster`'s real node; returns its name. */
export function loadOperatorImage(
  cluster: string,
): Promise<{ repository: string; tag: string; image: string }> {
  return new Promise((resolve, reject) => {
    execFile("bash", [script, "--load", cluster], { maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      if (err)
        return reject(
          new Error(`building the operator image failed: ${err.message}\n${stderr.slice(-3000)}`),
        );
      const image = stdout.trim().split("\n").pop() ?? "";
      const at = image.lastIndexOf(":");
      resolve({ repository: image.slice(0, at), tag: image.slice(at + 1), image });
    });
  });
}

/**
 * `helm install` arguments (after the verb) for release centaurus in centaurus-system, whose
 * operator pods run from the loaded image on the real node.
 */
export function realNodeHelmInstall(image: { repository: string; tag: string }): string[] {
  return [
    "centaurus",
    "manifests/charts/centaurus",
    "--namespace=centaurus-system",
    "--create-namespace",
    `--set=image.repository=${image.repository}`,
    `--set=image.tag=${image.tag}`,
    "--set=image.pullPolicy=Never",
    "--set=nodeSelector.centaurus\\.io/node-profile=real",
  ];
}
