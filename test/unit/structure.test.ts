// The house rules of issue "The house", kept by a test so they stay true: no import cycle
// (type-only imports included), pkg/ stands alone, reconcilers stay thin and functions short.

import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { expect } from "chai";
import ts from "typescript";

const ROOT = resolve(import.meta.dirname, "../..");
const SOURCE_DIRS = ["pkg", "controllers", "cli", "bin"];

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...sourceFiles(p));
    else if (p.endsWith(".ts")) out.push(p);
  }
  return out;
}

const files = SOURCE_DIRS.flatMap((d) => sourceFiles(join(ROOT, d)));
const rel = (p: string) => relative(ROOT, p);
const parsed = new Map(
  files.map((f) => [f, ts.createSourceFile(f, readFileSync(f, "utf8"), ts.ScriptTarget.Latest, true)]),
);

/** Every relative import and re-export of a file, type-only ones included. */
function importsOf(file: string): string[] {
  const sf = parsed.get(file) as ts.SourceFile;
  const out: string[] = [];
  for (const st of sf.statements) {
    const spec =
      (ts.isImportDeclaration(st) || ts.isExportDeclaration(st)) && st.moduleSpecifier
        ? (st.moduleSpecifier as ts.StringLiteral).text
        : undefined;
    if (spec?.startsWith(".")) out.push(resolve(dirname(file), spec));
  }
  return out;
}

/** Lines of each function-like node longer than `max`. */
function longFunctions(file: string, max: number): string[] {
  const sf = parsed.get(file) as ts.SourceFile;
  const found: string[] = [];
  const visit = (node: ts.Node) => {
    if (ts.isFunctionLike(node) && "body" in node && node.body) {
      const start = sf.getLineAndCharacterOfPosition(node.getStart()).line;
      const end = sf.getLineAndCharacterOfPosition(node.getEnd()).line;
      if (end - start + 1 > max) found.push(`${rel(file)}:${start + 1} (${end - start + 1} lines)`);
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return found;
}

describe("structure of the house", () => {
  it("has no import cycle, type-only imports included", () => {
    const graph = new Map(files.map((f) => [f, importsOf(f).filter((i) => parsed.has(i))]));
    const state = new Map<string, "open" | "done">();
    const cycles: string[] = [];
    const walk = (f: string, path: string[]) => {
      if (state.get(f) === "done") return;
      if (state.get(f) === "open") {
        cycles.push([...path.slice(path.indexOf(f)), f].map(rel).join(" → "));
        return;
      }
      state.set(f, "open");
      for (const next of graph.get(f) ?? []) walk(next, [...path, f]);
      state.set(f, "done");
    };
    for (const f of files) walk(f, []);
    expect(cycles).to.deep.equal([]);
  });

  it("pkg/ imports nothing from hack/, controllers/, cli/ or test/", () => {
    const bad = files
      .filter((f) => rel(f).startsWith("pkg/"))
      .flatMap((f) => importsOf(f).map((i) => `${rel(f)} → ${rel(i)}`))
      .filter((edge) => / → (hack|controllers|cli|test)\//.test(edge));
    expect(bad).to.deep.equal([]);
  });

  it("controllers/: reconcilers ≤ 300 lines, other files ≤ 400 (api.ts aside), functions ≤ 80", () => {
    const controllers = files.filter((f) => rel(f).startsWith("controllers/"));
    const lines = (f: string) => readFileSync(f, "utf8").split("\n").length;
    // A reconciler is a file that builds a Controller.
    const isReconciler = (f: string) => /new Controller\(/.test(readFileSync(f, "utf8"));
    const tooLong = controllers
      .filter((f) => !f.endsWith("/api.ts"))
      .filter((f) => lines(f) > (isReconciler(f) ? 300 : 400))
      .map((f) => `${rel(f)} (${lines(f)} lines${isReconciler(f) ? ", reconciler" : ""})`);
    expect(tooLong).to.deep.equal([]);
    expect(controllers.flatMap((f) => longFunctions(f, 80))).to.deep.equal([]);
  });
});
