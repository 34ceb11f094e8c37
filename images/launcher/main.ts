// The launcher image's entry point: `centaurus vm-launcher` alone, bundled into one file by
// hack/build-launcher-image.sh (no node_modules in the image).
import { runVmLauncher } from "../../cli/vm-launcher.ts";

process.exitCode = await runVmLauncher(process.argv.slice(2));
