import { expect } from "chai";
import fc from "fast-check";
import {
  type Condition,
  type ConditionUpdate,
  findCondition,
  isConditionTrue,
  metaTime,
  microTime,
  setCondition,
} from "../../pkg/status/conditions.ts";

const T0 = new Date("2024-05-06T07:08:09.123Z");
const T1 = new Date("2024-05-06T08:00:00.999Z");

const update = (type: string, status: Condition["status"], reason = "Because"): ConditionUpdate => ({
  type,
  status,
  reason,
  message: `${type} is ${status}`,
});

/** Dates whose ISO form has a four-digit year (what metav1.Time can carry). */
const isoDate = fc.date({
  min: new Date("0001-01-01T00:00:00.000Z"),
  max: new Date("9999-12-31T23:59:59.999Z"),
  noInvalidDate: true,
});

describe("status: conditions", () => {
  describe("time formats", () => {
    it("metaTime is RFC 3339 in whole seconds", () => {
      expect(metaTime(T0)).to.equal("2024-05-06T07:08:09Z");
      expect(metaTime(new Date(0))).to.equal("1970-01-01T00:00:00Z");
      expect(metaTime()).to.match(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/);
    });

    it("microTime has exactly six fractional digits and a Z", () => {
      expect(microTime(T0)).to.equal("2024-05-06T07:08:09.123000Z");
      expect(microTime(new Date(0))).to.equal("1970-01-01T00:00:00.000000Z");
      expect(microTime(new Date("2024-01-01T00:00:00.010Z"))).to.equal("2024-01-01T00:00:00.010000Z");
      expect(microTime()).to.match(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/);
    });

    it("property: both formats are well-formed and parse back to the same instant", () => {
      fc.assert(
        fc.property(isoDate, (d) => {
          const meta = metaTime(d);
          const micro = microTime(d);
          expect(meta).to.match(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/);
          expect(micro).to.match(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/);
          expect(micro.slice(0, 19)).to.equal(meta.slice(0, 19));
          expect(micro.slice(20, 23)).to.equal(d.toISOString().slice(20, 23));
          expect(micro.slice(23)).to.equal("000Z");
          expect(Date.parse(meta)).to.equal(Math.floor(d.getTime() / 1000) * 1000);
          expect(Date.parse(micro)).to.equal(d.getTime());
        }),
      );
    });
  });

  describe("setCondition", () => {
    it("adds a new condition stamped with now", () => {
      const out = setCondition(undefined, update("Available", "True"), T0);
      expect(out).to.deep.equal([
        {
          type: "Available",
          status: "True",
          reason: "Because",
          message: "Available is True",
          lastTransitionTime: "2024-05-06T07:08:09Z",
        },
      ]);
    });

    it("keeps lastTransitionTime when the status is unchanged, but takes the new reason and message", () => {
      const first = setCondition([], update("Ready", "False", "Starting"), T0);
      const second = setCondition(
        first,
        { ...update("Ready", "False", "StillStarting"), observedGeneration: 3 },
        T1,
      );
      expect(second).to.have.length(1);
      expect(second[0]).to.deep.equal({
        type: "Ready",
        status: "False",
        reason: "StillStarting",
        message: "Ready is False",
        observedGeneration: 3,
        lastTransitionTime: metaTime(T0),
      });
    });

    it("moves lastTransitionTime when the status changes", () => {
      const first = setCondition([], update("Ready", "False"), T0);
      const second = setCondition(first, update("Ready", "True"), T1);
      expect(second[0]!.lastTransitionTime).to.equal("2024-05-06T08:00:00Z");
      const third = setCondition(second, update("Ready", "Unknown"), new Date("2025-01-01T00:00:00Z"));
      expect(third[0]!.lastTransitionTime).to.equal("2025-01-01T00:00:00Z");
    });

    it("does not modify its input", () => {
      const input: Condition[] = [
        { ...update("Progressing", "True"), lastTransitionTime: metaTime(T0) },
        { ...update("Ready", "False"), lastTransitionTime: metaTime(T0) },
      ];
      const snapshot = structuredClone(input);
      Object.freeze(input);
      for (const c of input) Object.freeze(c);
      const out = setCondition(input, update("Ready", "True"), T1);
      const out2 = setCondition(input, update("Degraded", "False"), T1);
      expect(input).to.deep.equal(snapshot);
      expect(out).not.to.equal(input);
      expect(out2).not.to.equal(input);
      expect(findCondition(out, "Ready")!.status).to.equal("True");
    });

    it("sorts Ready first and keeps the others in their order", () => {
      let list = setCondition([], update("Progressing", "True"), T0);
      list = setCondition(list, update("Available", "False"), T0);
      list = setCondition(list, update("Ready", "False"), T0);
      list = setCondition(list, update("Degraded", "False"), T0);
      expect(list.map((c) => c.type)).to.deep.equal(["Ready", "Progressing", "Available", "Degraded"]);
    });

    it("property: one entry per type, Ready first, others in first-seen order, times move only on changes", () => {
      const types = ["Ready", "Available", "Progressing", "Degraded"] as const;
      fc.assert(
        fc.property(
          fc.array(
            fc.record({
              type: fc.constantFrom(...types),
              status: fc.constantFrom<Condition["status"]>("True", "False", "Unknown"),
            }),
            { maxLength: 30 },
          ),
          (updates) => {
            let list: Condition[] = [];
            const firstSeen: string[] = [];
            const transitions = new Map<string, string>();
            const statuses = new Map<string, string>();
            updates.forEach((u, step) => {
              const now = new Date(Date.UTC(2024, 0, 1, 0, 0, step));
              const before = structuredClone(list);
              const next = setCondition(list, update(u.type, u.status), now);
              expect(list).to.deep.equal(before);
              list = next;
              if (!firstSeen.includes(u.type)) firstSeen.push(u.type);
              if (statuses.get(u.type) !== u.status) transitions.set(u.type, metaTime(now));
              statuses.set(u.type, u.status);

              const expectedOrder = firstSeen.includes("Ready")
                ? ["Ready", ...firstSeen.filter((t) => t !== "Ready")]
                : firstSeen;
              expect(list.map((c) => c.type)).to.deep.equal(expectedOrder);
              for (const c of list) {
                expect(c.status).to.equal(statuses.get(c.type));
                expect(c.lastTransitionTime).to.equal(transitions.get(c.type));
              }
            });
          },
        ),
      );
    });
  });

  describe("lookups", () => {
    it("findCondition and isConditionTrue", () => {
      const list = setCondition(
        setCondition([], update("Ready", "True"), T0),
        update("Degraded", "False"),
        T0,
      );
      expect(findCondition(list, "Degraded")!.status).to.equal("False");
      expect(findCondition(list, "Missing")).to.equal(undefined);
      expect(findCondition(undefined, "Ready")).to.equal(undefined);
      expect(isConditionTrue(list, "Ready")).to.equal(true);
      expect(isConditionTrue(list, "Degraded")).to.equal(false);
      expect(isConditionTrue(list, "Missing")).to.equal(false);
      expect(isConditionTrue(undefined, "Ready")).to.equal(false);
    });
  });
});
