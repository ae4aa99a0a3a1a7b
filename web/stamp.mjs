// Writes ../mediaforged/http/static/source.sha256: a digest of every file the bundle is built
// from, so `.ci/dev` and tests/system/test_web.py can tell a committed bundle that is stale.
// The same digest in Python: tests/system/test_web.py source_digest() and .ci/dev.
import { createHash } from "node:crypto";
import { readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join, relative, sep } from "node:path";

const here = new URL(".", import.meta.url).pathname;
const INPUTS = ["index.html", "package.json", "package-lock.json", "tsconfig.json", "vite.config.ts", "src"];

function files(path) {
  return statSync(path).isDirectory() ? readdirSync(path).flatMap((n) => files(join(path, n))) : [path];
}

const names = INPUTS.flatMap((p) => files(join(here, p))).map((p) => relative(here, p).split(sep).join("/")).sort();
const outer = createHash("sha256");
for (const name of names) {
  outer.update(`${name}\0${createHash("sha256").update(readFileSync(join(here, name))).digest("hex")}\n`);
}
writeFileSync(join(here, "../mediaforged/http/static/source.sha256"), outer.digest("hex") + "\n");
