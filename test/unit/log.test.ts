// Log lines: JSON for collectors, one readable line per entry on a terminal (--log-format).

import { spawnSync } from "node:child_process";
import { stripVTControlCharacters } from "node:util";
import { expect } from "chai";
import { parseLogFormat, rootLogger, setLogFormat } from "../../pkg/log.ts";

describe("log format", () => {
  const lines: string[] = [];
  const to = { write: (l: string) => lines.push(l) };
  afterEach(() => {
    setLogFormat("json"); // back to stdout as JSON, what every other test expects
    lines.length = 0;
  });

  it("auto is JSON when the output is no terminal, text when it is", () => {
    // npm test runs with LOG_LEVEL=error: this test is about warnings, so it lets them through.
    const level = rootLogger.level;
    rootLogger.level = "warn";
    try {
      autoFollowsTheTerminal();
    } finally {
      rootLogger.level = level;
    }
  });

  function autoFollowsTheTerminal(): void {
    const log = rootLogger.child({ controller: "tenant" }); // made before the switch: follows it
    expect(setLogFormat("auto", { to, tty: false })).to.equal("json");
    log.warn({ key: "acme" }, "something to act on");
    expect(JSON.parse(lines[0] ?? "")).to.include({
      level: 40,
      controller: "tenant",
      msg: "something to act on",
    });
    expect(setLogFormat("auto", { to, tty: true })).to.equal("text");
    log.warn({ key: "acme" }, "something to act on");
    const text = stripVTControlCharacters(lines[1] ?? ""); // coloured, on a terminal
    expect(text).to.match(/^\[\d\d:\d\d:\d\d\.\d{3}\] WARN: something to act on /);
    expect(text).to.contain('"key":"acme"');
    expect(() => JSON.parse(lines[1] ?? "")).to.throw();
  }

  it("text and json are taken as asked, whatever the output", () => {
    expect(setLogFormat("text", { to, tty: false })).to.equal("text");
    rootLogger.error("plain");
    expect(lines[0]).to.match(/^\[\d\d:\d\d:\d\d\.\d{3}\] ERROR: plain\n$/);
    expect(setLogFormat("json", { to, tty: true })).to.equal("json");
    rootLogger.error("plain");
    expect(JSON.parse(lines[1] ?? "").msg).to.equal("plain");
  });

  it("refuses an unknown format, naming the ones there are, also from the command line", () => {
    expect(parseLogFormat(undefined)).to.equal("auto");
    expect(() => parseLogFormat("xml")).to.throw(/bad --log-format "xml": use auto, text, json/);
    const run = spawnSync(
      process.execPath,
      ["--import", "tsx", "bin/centaurus.ts", "manager", "--log-format", "xml"],
      {
        encoding: "utf8",
      },
    );
    expect(run.status).to.equal(1);
    expect(run.stderr).to.contain('bad --log-format "xml": use auto, text, json');
  });
});
