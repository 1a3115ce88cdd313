/** Bundles the frontend before the tests, so they test the current one (see scripts/bundle-assets.mjs). */
import { execFileSync } from "node:child_process"
import * as Path from "node:path"

export default function setup() {
  execFileSync(process.execPath, [Path.resolve(import.meta.dirname, "../../scripts/bundle-assets.mjs")], { stdio: "inherit" })
}
