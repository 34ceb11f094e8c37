import { expect } from "chai";
import fc from "fast-check";
import { Backoff, type BackoffOptions, DEFAULT_WATCH_BACKOFF } from "../../pkg/cache/backoff.ts";

/** A backoff on a hand-driven clock with the default timings and no jitter. */
function manual(overrides: Partial<BackoffOptions> = {}): { backoff: Backoff; clock: { now: number } } {
  const clock = { now: 1_000_000 };
  const backoff = new Backoff({ ...DEFAULT_WATCH_BACKOFF, jitter: 0, now: () => clock.now, ...overrides });
  return { backoff, clock };
}

describe("cache: Backoff", () => {
  it("uses client-go's reflector timings by default", () => {
    expect(DEFAULT_WATCH_BACKOFF).to.deep.equal({
      initialMs: 800,
      maxMs: 30_000,
      resetAfterMs: 120_000,
      jitter: 0.2,
    });
  });

  it("doubles from 800 ms and caps at 30 s", () => {
    const { backoff, clock } = manual();
    const delays: number[] = [];
    for (let i = 0; i < 10; i++) {
      delays.push(backoff.next());
      clock.now += 1000; // failures well within resetAfterMs of each other
    }
    expect(delays).to.deep.equal([800, 1600, 3200, 6400, 12_800, 25_600, 30_000, 30_000, 30_000, 30_000]);
  });

  it("keeps growing while failures come less than resetAfterMs apart", () => {
    const { backoff, clock } = manual();
    const delays: number[] = [];
    for (let i = 0; i < 5; i++) {
      delays.push(backoff.next());
      clock.now += 119_000; // total time far beyond resetAfterMs, but never a long enough gap
    }
    expect(delays).to.deep.equal([800, 1600, 3200, 6400, 12_800]);
  });

  it("starts over after resetAfterMs without a failure", () => {
    const { backoff, clock } = manual();
    for (let i = 0; i < 8; i++) backoff.next();
    expect(backoff.next()).to.equal(30_000);
    clock.now += 120_001;
    expect(backoff.next()).to.equal(800);
    expect(backoff.next()).to.equal(1600);
    clock.now += 60_000;
    expect(backoff.next()).to.equal(3200);
    clock.now += 1_000_000;
    expect(backoff.next()).to.equal(800);
  });

  it("honours custom timings", () => {
    const { backoff, clock } = manual({ initialMs: 100, maxMs: 450, resetAfterMs: 10 });
    expect([backoff.next(), backoff.next(), backoff.next(), backoff.next()]).to.deep.equal([
      100, 200, 400, 450,
    ]);
    clock.now += 11;
    expect(backoff.next()).to.equal(100);
  });

  it("uses the wall clock when none is injected", () => {
    const backoff = new Backoff({ ...DEFAULT_WATCH_BACKOFF, jitter: 0 });
    expect([backoff.next(), backoff.next()]).to.deep.equal([800, 1600]);
  });

  it("property: jitter stays within [d, d * (1 + jitter)] of the un-jittered delay", () => {
    fc.assert(
      fc.property(
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.array(fc.nat(200_000), { minLength: 1, maxLength: 30 }),
        (jitter, gaps) => {
          const clock = { now: 0 };
          const jittered = new Backoff({ ...DEFAULT_WATCH_BACKOFF, jitter, now: () => clock.now });
          const exact = new Backoff({ ...DEFAULT_WATCH_BACKOFF, jitter: 0, now: () => clock.now });
          for (const gap of gaps) {
            clock.now += gap;
            const base = exact.next();
            const delay = jittered.next();
            expect(base).to.be.within(800, 30_000);
            expect(delay).to.be.at.least(base);
            expect(delay).to.be.at.most(base * (1 + jitter));
            if (jitter === 0) expect(delay).to.equal(base);
          }
        },
      ),
    );
  });
});
