/// <reference lib="dom" />
/**
 * A real browser for the UI's tests: Debian's Chromium (`apt-get install chromium`; `.ci/run`
 * installs it when missing) driven by playwright-core, which downloads no browser of its own.
 * `CHROMIUM_PATH` names another executable.
 */
import * as AxeCore from "axe-core"
import * as Fs from "node:fs"
import * as Path from "node:path"
import { type Browser, chromium, type Page } from "playwright-core"
import { createRequire } from "node:module"

export const executablePath = process.env["CHROMIUM_PATH"] ?? "/usr/bin/chromium"

/**
 * Launches Chromium headless, nothing fetched from the network on its own. Playwright gives it a
 * fresh profile directory of its own (it refuses `--user-data-dir` among the arguments) and
 * removes it on close.
 */
export const launch = async (): Promise<{ readonly browser: Browser; readonly close: () => Promise<void> }> => {
  const browser = await chromium.launch({
    executablePath,
    headless: true,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync"
    ]
  })
  return {
    browser,
    close: () => browser.close()
  }
}

const axeSource = Fs.readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8")

/** The serious and critical accessibility violations axe-core finds on the page as it is now. */
export const seriousViolations = async (page: Page): Promise<ReadonlyArray<string>> => {
  // Evaluated through the DevTools protocol: the page's Content-Security-Policy forbids inline scripts.
  await page.evaluate(axeSource)
  const results = await page.evaluate(() => (globalThis as unknown as { axe: typeof AxeCore }).axe.run(document, { resultTypes: ["violations"] }))
  return results.violations
    .filter((violation) => violation.impact === "serious" || violation.impact === "critical")
    .map((violation) => `${violation.id} (${violation.impact}): ${violation.help} — ${violation.nodes.map((node) => node.target.join(" ")).slice(0, 3).join("; ")}`)
}

/** Where the guide's screenshots live. */
export const screenshotDir = Path.resolve(import.meta.dirname, "../../../../docs/guides/ui")
