/**
 * The browser tests need Debian's Chromium (playwright-core downloads no browser). So that the
 * README's one test command works on a fresh Debian machine with only Node and npm, this setup
 * installs the `chromium` package when it is missing and the run may install packages (root with
 * apt-get); anywhere else it stops the run with the command to run, rather than skipping the tests.
 */
import { execFileSync } from "node:child_process"
import * as Fs from "node:fs"
import { executablePath } from "./browser.js"

const canInstall = (): boolean => process.getuid?.() === 0 && Fs.existsSync("/usr/bin/apt-get")

export default function setup() {
  if (Fs.existsSync(executablePath)) return
  if (process.env["CHROMIUM_PATH"] === undefined && canInstall()) {
    console.log("The UI's browser tests need Chromium: installing Debian's chromium package (apt-get)")
    execFileSync("apt-get", ["update", "-qq"], { stdio: "inherit" })
    execFileSync("apt-get", ["install", "-y", "-qq", "chromium"], { stdio: "inherit", env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" } })
    if (Fs.existsSync(executablePath)) return
  }
  throw new Error(
    `The UI's browser tests need Chromium at ${executablePath}: install it (Debian: apt-get install chromium) or set CHROMIUM_PATH`
  )
}
