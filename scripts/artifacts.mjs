#!/usr/bin/env node
// Exports the ABI and creation bytecode of every deployable contract under contracts/src
// from forge's build output into crates/reel-contracts/artifacts/, so that `cargo build`
// needs neither node nor forge. With --check it writes nothing and fails if the committed
// artifacts differ from a fresh build (run `forge build` first; `./x artifacts` does both).
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const outDir = path.join(root, "target/forge/out");
const artifactsDir = path.join(root, "crates/reel-contracts/artifacts");
const check = process.argv.includes("--check");

if (!fs.existsSync(outDir)) {
  console.error(`no forge output at ${outDir}: run \`forge build\` first (./x artifacts does)`);
  process.exit(1);
}

const wanted = new Map();
for (const dir of fs.readdirSync(outDir)) {
  if (!dir.endsWith(".sol")) continue;
  for (const file of fs.readdirSync(path.join(outDir, dir))) {
    if (!file.endsWith(".json")) continue;
    const art = JSON.parse(fs.readFileSync(path.join(outDir, dir, file), "utf8"));
    const target = art.metadata?.settings?.compilationTarget ?? {};
    const [source, name] = Object.entries(target)[0] ?? [];
    if (!source?.startsWith("contracts/src/")) continue;
    const bytecode = art.bytecode?.object ?? "0x";
    if (bytecode === "0x") continue; // interfaces and abstract contracts
    if (art.abi.length === 0) continue; // libraries of internal functions
    if (Object.keys(art.bytecode.linkReferences ?? {}).length > 0) {
      console.error(`${name} needs linked libraries; make its library functions internal`);
      process.exit(1);
    }
    if (wanted.has(name)) {
      console.error(`two contracts named ${name}; names must be unique for the bindings`);
      process.exit(1);
    }
    const out = { contractName: name, sourceName: source, abi: art.abi, bytecode: { object: bytecode } };
    wanted.set(name, JSON.stringify(out, null, 1) + "\n");
  }
}

fs.mkdirSync(artifactsDir, { recursive: true });
const present = new Set(fs.readdirSync(artifactsDir).filter((f) => f.endsWith(".json")));
const problems = [];
for (const [name, text] of [...wanted].sort()) {
  const file = `${name}.json`;
  present.delete(file);
  const p = path.join(artifactsDir, file);
  const old = fs.existsSync(p) ? fs.readFileSync(p, "utf8") : null;
  if (old === text) continue;
  if (check) problems.push(`${file} is ${old === null ? "missing" : "stale"}`);
  else fs.writeFileSync(p, text);
}
for (const file of present) {
  if (check) problems.push(`${file} has no contract in contracts/src any more`);
  else fs.rmSync(path.join(artifactsDir, file));
}
if (problems.length > 0) {
  console.error("crates/reel-contracts/artifacts does not match contracts/src:");
  for (const p of problems) console.error(`  ${p}`);
  console.error("run `./x artifacts` and commit the result");
  process.exit(1);
}
console.log(`${wanted.size} contract artifacts ${check ? "up to date" : "written"} in crates/reel-contracts/artifacts`);
