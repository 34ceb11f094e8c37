// Mocha's spec reporter, plus one closing line in the plain form CI systems read:
// "tests: N passed, N failed, N skipped".
const Mocha = require("mocha");

const { Spec } = Mocha.reporters;
const { EVENT_RUN_END } = Mocha.Runner.constants;

class SpecWithSummary extends Spec {
  constructor(runner, options) {
    super(runner, options);
    runner.once(EVENT_RUN_END, () => {
      const s = runner.stats ?? { passes: 0, failures: 0, pending: 0 };
      process.stdout.write(`\ntests: ${s.passes} passed, ${s.failures} failed, ${s.pending} skipped\n`);
      // hack/test.sh runs several mocha processes and adds their counts up.
      if (process.env.CENTAURUS_TEST_STATS) {
        require("node:fs").appendFileSync(
          process.env.CENTAURUS_TEST_STATS,
          `${JSON.stringify({ group: process.env.CENTAURUS_TEST_GROUP, passes: s.passes, failures: s.failures, pending: s.pending })}\n`,
        );
      }
    });
  }
}

module.exports = SpecWithSummary;
