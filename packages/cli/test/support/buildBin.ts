/**
 * Builds the `eventuali` binary (dist/bin.js) once per test run: the CLI tests run it as a user
 * would, as a subprocess.
 */
import { execFileSync } from "node:child_process"
import * as Path from "node:path"

export default function setup() {
  execFileSync(process.execPath, [Path.resolve(import.meta.dirname, "../../scripts/bundle-bin.mjs")], { stdio: "inherit" })
}
