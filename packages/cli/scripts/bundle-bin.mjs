/**
 * Builds `dist/bin.js`, the `eventuali` executable, with esbuild: the CLI, the workspace's
 * `@eventuali/*` packages (in this repository they export TypeScript sources, which Node does not
 * run) and their npm dependencies in one file, which starts in a third of the time Node takes to
 * load Effect's hundreds of modules. Only native code stays an import: `better-sqlite3` (a
 * dependency of this package) and node-postgres's optional `pg-native`. Written to a temporary
 * file and renamed, so a test run reading the binary never sees half a file.
 *
 *   node packages/cli/scripts/bundle-bin.mjs
 */
import * as esbuild from "esbuild"
import * as Fs from "node:fs"
import * as Path from "node:path"

const packageDir = Path.resolve(import.meta.dirname, "..")
const outfile = Path.join(packageDir, "dist", "bin.js")

const result = await esbuild.build({
  entryPoints: [Path.join(packageDir, "src", "bin.ts")],
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node20",
  outfile,
  write: false,
  logLevel: "warning",
  external: ["better-sqlite3", "pg-native"],
  // Bundled CommonJS modules (node-postgres) `require` Node's own modules.
  banner: { js: `import { createRequire as __eventualiCreateRequire } from "node:module"; const require = __eventualiCreateRequire(import.meta.url);` }
})

Fs.mkdirSync(Path.dirname(outfile), { recursive: true })
const temporary = `${outfile}.${process.pid}.tmp`
Fs.writeFileSync(temporary, result.outputFiles[0].contents, { mode: 0o755 })
Fs.renameSync(temporary, outfile)
