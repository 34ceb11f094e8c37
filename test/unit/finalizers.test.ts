import { expect } from "chai";
import fc from "fast-check";
import jsonpatch, { type Operation } from "fast-json-patch";
import type { KubeObject } from "../../pkg/kube/object.ts";
import { addFinalizerPatch, removeFinalizerPatch } from "../../pkg/status/finalizers.ts";

const { applyPatch, deepClone } = jsonpatch;

const MINE = "centaurus.io/cleanup";
const OTHER = "example.com/other-owner";

function withFinalizers(finalizers?: string[]): KubeObject {
  return {
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: { name: "cm", namespace: "ns", ...(finalizers && { finalizers }) },
  };
}

/** Applies `ops` to a copy of `doc`, strictly (RFC 6902, validated), as the tests' stand-in server. */
function apply(doc: KubeObject, ops: Operation[]): KubeObject {
  return applyPatch(deepClone(doc) as KubeObject, ops, true, false).newDocument;
}

/**
 * The API server's json-patch (evanphx/json-patch) treats a missing member as null in a `test`
 * operation; strict RFC 6902 (fast-json-patch) does not. This materializes the missing list as
 * null so the patch is checked the way the API server checks it.
 */
function applyAsApiServer(doc: KubeObject, ops: Operation[]): KubeObject {
  const copy = deepClone(doc) as KubeObject;
  if (copy.metadata.finalizers === undefined) {
    (copy.metadata as { finalizers?: string[] | null }).finalizers = null;
  }
  return applyPatch(copy, ops, true, false).newDocument;
}

const finalizerName = fc.constantFrom(
  "a.io/x",
  "b.io/y",
  "kubernetes",
  "foregroundDeletion",
  "orphan",
  "c.io/with~tilde",
  "d.io/with/slashes",
);

describe("status: finalizer patches", () => {
  describe("addFinalizerPatch", () => {
    it("appends to an existing list, guarded by a test of the whole list", () => {
      const obj = withFinalizers([OTHER]);
      const ops = addFinalizerPatch(obj, MINE);
      expect(ops).to.deep.equal([
        { op: "test", path: "/metadata/finalizers", value: [OTHER] },
        { op: "add", path: "/metadata/finalizers/-", value: MINE },
      ]);
      expect(apply(obj, ops).metadata.finalizers).to.deep.equal([OTHER, MINE]);
      expect(obj.metadata.finalizers).to.deep.equal([OTHER]); // the input is untouched
    });

    it("creates the list when it is empty", () => {
      const obj = withFinalizers([]);
      const ops = addFinalizerPatch(obj, MINE);
      expect(ops).to.deep.equal([
        { op: "test", path: "/metadata/finalizers", value: [] },
        { op: "add", path: "/metadata/finalizers", value: [MINE] },
      ]);
      expect(apply(obj, ops).metadata.finalizers).to.deep.equal([MINE]);
    });

    it("creates the list when it is missing (API-server semantics: missing tests equal to null)", () => {
      const obj = withFinalizers();
      const ops = addFinalizerPatch(obj, MINE);
      expect(ops).to.deep.equal([
        { op: "test", path: "/metadata/finalizers", value: null },
        { op: "add", path: "/metadata/finalizers", value: [MINE] },
      ]);
      expect(applyAsApiServer(obj, ops).metadata.finalizers).to.deep.equal([MINE]);
      // ... and it still refuses if someone else created the list in the meantime.
      expect(() => applyAsApiServer(withFinalizers([OTHER]), ops)).to.throw(/Test operation failed/);
    });

    it("is empty when the finalizer is already there", () => {
      expect(addFinalizerPatch(withFinalizers([OTHER, MINE]), MINE)).to.deep.equal([]);
    });

    it("fails its test when another owner changed the list after we read it", () => {
      const read = withFinalizers([OTHER]);
      const ops = addFinalizerPatch(read, MINE);
      const raced = withFinalizers([OTHER, "late.io/arrival"]);
      expect(() => apply(raced, ops)).to.throw(/Test operation failed/);
      expect(() => apply(withFinalizers([]), ops)).to.throw(/Test operation failed/);

      const readEmpty = withFinalizers([]);
      const create = addFinalizerPatch(readEmpty, MINE);
      // Without the test this `add` would replace the other owner's finalizer.
      expect(() => apply(withFinalizers([OTHER]), create)).to.throw(/Test operation failed/);
    });
  });

  describe("removeFinalizerPatch", () => {
    it("removes by index, guarded by a test of that element", () => {
      const obj = withFinalizers([OTHER, MINE, "z.io/last"]);
      const ops = removeFinalizerPatch(obj, MINE);
      expect(ops).to.deep.equal([
        { op: "test", path: "/metadata/finalizers/1", value: MINE },
        { op: "remove", path: "/metadata/finalizers/1" },
      ]);
      expect(apply(obj, ops).metadata.finalizers).to.deep.equal([OTHER, "z.io/last"]);
      expect(obj.metadata.finalizers).to.have.length(3);
    });

    it("is empty when the finalizer is not there", () => {
      expect(removeFinalizerPatch(withFinalizers(), MINE)).to.deep.equal([]);
      expect(removeFinalizerPatch(withFinalizers([]), MINE)).to.deep.equal([]);
      expect(removeFinalizerPatch(withFinalizers([OTHER]), MINE)).to.deep.equal([]);
    });

    it("fails its test when the list shifted, and never removes another owner's finalizer", () => {
      const read = withFinalizers([OTHER, MINE]);
      const ops = removeFinalizerPatch(read, MINE);
      // Our finalizer moved: the element at index 1 is now someone else's.
      expect(() => apply(withFinalizers([OTHER, "new.io/first", MINE]), ops)).to.throw(
        /Test operation failed/,
      );
      expect(() => apply(withFinalizers([MINE, OTHER]), ops)).to.throw(/Test operation failed/);
      // Gone already: nothing at index 1.
      expect(() => apply(withFinalizers([OTHER]), ops)).to.throw();
      // A finalizer appended after ours does not move ours: removing is still safe.
      expect(apply(withFinalizers([OTHER, MINE, "late.io/arrival"]), ops).metadata.finalizers).to.deep.equal([
        OTHER,
        "late.io/arrival",
      ]);
    });
  });

  describe("properties", () => {
    it("add then remove yields the original list and keeps every other finalizer", () => {
      fc.assert(
        fc.property(fc.array(finalizerName, { maxLength: 6 }), finalizerName, (list, mine) => {
          const others = list.filter((f) => f !== mine);
          const original = withFinalizers(others);
          const added = apply(original, addFinalizerPatch(original, mine));
          expect(added.metadata.finalizers).to.deep.equal([...others, mine]);
          // Adding again is a no-op.
          expect(addFinalizerPatch(added, mine)).to.deep.equal([]);
          const removed = apply(added, removeFinalizerPatch(added, mine));
          expect(removed).to.deep.equal(original);
          expect(removeFinalizerPatch(removed, mine)).to.deep.equal([]);
        }),
      );
    });

    it("removing never drops another owner's finalizer, and removes exactly one entry", () => {
      fc.assert(
        fc.property(fc.array(finalizerName, { maxLength: 8 }), finalizerName, (list, target) => {
          const obj = withFinalizers(list);
          const ops = removeFinalizerPatch(obj, target);
          if (!list.includes(target)) {
            expect(ops).to.deep.equal([]);
            return;
          }
          const after = apply(obj, ops).metadata.finalizers!;
          expect(after).to.have.length(list.length - 1);
          const i = list.indexOf(target);
          expect(after).to.deep.equal([...list.slice(0, i), ...list.slice(i + 1)]);
        }),
      );
    });

    it("a patch computed from a stale read either fails its test or keeps the concurrent change", () => {
      fc.assert(
        fc.property(
          fc.array(finalizerName, { maxLength: 5 }),
          fc.array(finalizerName, { maxLength: 5 }),
          finalizerName,
          fc.boolean(),
          (read, current, mine, adding) => {
            const readObj = withFinalizers(read);
            const ops = adding ? addFinalizerPatch(readObj, mine) : removeFinalizerPatch(readObj, mine);
            if (ops.length === 0) return;
            let result: string[];
            try {
              result = apply(withFinalizers(current), ops).metadata.finalizers ?? [];
            } catch {
              return; // refused: the controller re-reads and tries again
            }
            // Applied: every finalizer another owner holds now is still there.
            for (const f of current) if (f !== mine) expect(result).to.include(f);
            if (adding) expect(result).to.include(mine);
            else
              expect(result.filter((f) => f === mine).length).to.equal(
                current.filter((f) => f === mine).length - 1,
              );
          },
        ),
      );
    });
  });
});
