// `centaurus vm console`: which VM a reference names.

import { expect } from "chai";
import { parseVmRef } from "../../cli/vm.ts";

describe("cli: centaurus vm", () => {
  it("reads NS/NAME, or NAME in default, and refuses anything else", () => {
    expect(parseVmRef("lab-default/demo")).to.deep.equal({ namespace: "lab-default", name: "demo" });
    expect(parseVmRef("demo")).to.deep.equal({ namespace: "default", name: "demo" });
    expect(parseVmRef("a/b/c")).to.equal(undefined);
    expect(parseVmRef("/demo")).to.equal(undefined);
  });
});
