/// <reference lib="dom" />
/**
 * The UI in a real browser (Chromium through playwright-core) over a SQLite file and the test
 * run's PostgreSQL, seeded by the test: every page shows the seeded data, the links lead from the
 * log to an aggregate to its causation graph, the live page shows a new event within 2 seconds,
 * the keyboard reaches everything, axe-core finds no serious or critical violation, the token
 * and read-only mode refuse. The SQLite run writes the guide's screenshots (docs/guides/ui/).
 */
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { Data, Duration, Effect, Fiber, Redacted, Schedule } from "effect"
import { EventStore, Projection } from "eventuali"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import type { Browser, Page } from "playwright-core"
import { describePg, freshUrl } from "../../postgres/test/support/pg.js"
import { launch, screenshotDir, seriousViolations } from "./support/browser.js"
import { Order, seed, type Seeded } from "./support/seed.js"
import { type Running, start } from "./support/server.js"

let browser: Browser
let closeBrowser: () => Promise<void>

beforeAll(async () => {
  ;({ browser, close: closeBrowser } = await launch())
})
afterAll(() => closeBrowser?.())

const schemaOf = (url: string) => url.startsWith("postgres") ? new URL(url).searchParams.get("schema") ?? undefined : undefined

const suite = (name: string, makeUrl: () => string, screenshots: boolean) => {
  let ui: Running
  let storeUrl = ""
  let seeded: Seeded
  let page: Page
  let cleanup = () => {}

  beforeAll(async () => {
    storeUrl = makeUrl()
    if (storeUrl.startsWith("sqlite://")) {
      const directory = Path.dirname(storeUrl.slice("sqlite://".length))
      cleanup = () => Fs.rmSync(directory, { recursive: true, force: true })
    }
    ui = await start(storeUrl, { aggregates: [Order], schema: schemaOf(storeUrl) })
    seeded = await ui.run(Effect.flatMap(EventStore, seed))
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, colorScheme: "light" })
    page = await context.newPage()
  })
  afterAll(async () => {
    await page?.context().close()
    await ui?.close()
    cleanup()
  })

  const shoot = async (file: string, target: Page = page) => {
    if (screenshots) await target.screenshot({ path: Path.join(screenshotDir, file), fullPage: false })
  }
  const expectAccessible = async (target: Page = page) => expect(await seriousViolations(target)).toEqual([])

  describe(name, () => {
    it("Overview: counts, types, chart, backend, projections", async () => {
      await page.goto(ui.url)
      await expect.poll(() => page.getByTestId("aggregates-count").textContent(), { timeout: 10_000 }).toBe("42")
      expect(await page.getByTestId("events-count").textContent()).toBe("46")
      expect(await page.getByTestId("backend").textContent()).toBe(name.includes("SQLite") ? "SQLite" : "PostgreSQL")
      const types = await page.getByRole("region", { name: "Aggregate types by events" }).innerText()
      expect(types).toMatch(/Customer\s+41\s+42/)
      expect(types).toMatch(/Order\s+1\s+4/)
      expect(await page.getByRole("img", { name: /Events per minute over the last hour: 46 in all/ }).count()).toBe(1)
      expect(await page.getByRole("region", { name: "Projections and their lag" }).innerText()).toMatch(/order-summaries\s+\d+\s+45/)
      await expectAccessible()
      await shoot("overview.png")
    })

    it("Log → Aggregate → Causation, by links and the filter form", async () => {
      await page.goto(`${ui.url}#/log`)
      const table = page.getByRole("region", { name: "Events, newest first" })
      await expect.poll(() => table.locator("tbody tr").count()).toBe(46)
      await page.getByLabel("Aggregate type").fill("Order")
      await page.getByLabel("Aggregate type").press("Enter")
      await expect.poll(() => table.locator("tbody tr").count()).toBe(4)
      expect(await table.locator("tbody tr").first().innerText()).toContain("OrderShipped")
      await expectAccessible()
      await shoot("log.png")

      await table.getByRole("link", { name: "o-1001" }).first().click()
      await page.getByRole("heading", { level: 1, name: /Order o-1001/ }).waitFor()
      expect(await page.locator(".events").innerText()).toContain("\"tea-earl-grey\"")
      // The state after version 3, and what changed from version 2.
      await page.getByLabel("State after").selectOption("3")
      await page.getByRole("heading", { name: "State after version 3" }).waitFor()
      expect(await page.locator(".state").innerText()).toMatch(/scone: 4/)
      expect(await page.locator(".diff").innerText()).toMatch(/items\.scone added: 4/)
      await expectAccessible()
      await shoot("aggregate.png")

      await page.locator(".event").first().getByRole("link", { name: "causation" }).click()
      await page.getByRole("heading", { level: 1, name: "Causation" }).waitFor()
      const graph = page.getByRole("group", { name: /Causation graph/ })
      await expect.poll(() => graph.getByRole("link").count()).toBe(3)
      expect(await graph.getByRole("link", { name: /CustomerNotified.*Customer c-ada/ }).count()).toBe(1)
      await expectAccessible()
      await shoot("causation.png")

      // From a caused event, the chain leads back to its cause.
      await page.goto(`${ui.url}#/causation/${seeded.effectEventId}`)
      await page.getByRole("heading", { level: 2, name: "Chain" }).waitFor()
      expect(await page.locator(".chain").innerText()).toMatch(/OrderPlaced of o-1001 v1\s+CustomerNotified of c-ada v2/)
    })

    it("Live: an event appended by the test shows within 2 seconds; pause holds events back", async () => {
      await page.goto(`${ui.url}#/live`)
      await page.getByText("0 events received").waitFor()
      await ui.run(Effect.flatMap(EventStore, (store) => store.append("Order", "o-live-1", [{ eventType: "OrderPlaced", data: { customer: "c-live", total: 7 } }])))
      await page.locator(".live .event", { hasText: "o-live-1" }).waitFor({ timeout: 2_000 })
      await expectAccessible()
      await shoot("live.png")
      await page.getByRole("button", { name: "Pause" }).click()
      await ui.run(Effect.flatMap(EventStore, (store) => store.append("Order", "o-live-2", [{ eventType: "OrderPlaced", data: { customer: "c-live", total: 8 } }])))
      await page.getByText("paused (1 waiting)").waitFor({ timeout: 2_000 })
      expect(await page.locator(".live .event", { hasText: "o-live-2" }).count()).toBe(0)
      await page.getByRole("button", { name: "Resume" }).click()
      await page.locator(".live .event", { hasText: "o-live-2" }).waitFor({ timeout: 2_000 })
    })

    it("Projections: status, position, lag; rebuild disabled when read-only", async () => {
      await page.goto(`${ui.url}#/projections`)
      const table = page.getByRole("region", { name: "Projections: status, position and lag" })
      await table.waitFor()
      expect(await table.innerText()).toMatch(/order-summaries\s+behind/)
      expect(await table.getByRole("button", { name: "Rebuild" }).isDisabled()).toBe(true)
      expect(await page.getByText("Read-only: start the UI with --allow-writes").count()).toBe(1)
      await expectAccessible()
      await shoot("projections.png")
    })

    it("keyboard only: skip link, navigation, the filter form", async () => {
      await page.goto(ui.url)
      await page.getByRole("heading", { level: 1, name: "Overview" }).waitFor()
      await page.keyboard.press("Tab")
      expect(await page.evaluate(() => document.activeElement?.textContent)).toBe("Skip to content")
      await page.keyboard.press("Enter")
      expect(await page.evaluate(() => document.activeElement?.id)).toBe("main")
      await page.goto(`${ui.url}#/projections`)
      await page.getByRole("heading", { level: 1, name: "Projections" }).waitFor()
      for (let step = 0; step < 10; step++) {
        await page.keyboard.press("Tab")
        if (await page.evaluate(() => document.activeElement?.textContent === "Log")) break
      }
      await page.keyboard.press("Enter")
      await page.getByRole("heading", { level: 1, name: "Log" }).waitFor()
      for (let step = 0; step < 10; step++) {
        await page.keyboard.press("Tab")
        if (await page.evaluate(() => document.activeElement?.id === "f-event-type")) break
      }
      await page.keyboard.type("ItemAdded")
      await page.keyboard.press("Enter")
      const table = page.getByRole("region", { name: "Events, newest first" })
      await expect.poll(() => table.locator("tbody tr").count()).toBe(2)
    })

    it("a page's slow answer that arrives after the user moved on does not replace the page shown", async () => {
      // The unfiltered log answers 1.5 s late; the filtered one, asked for meanwhile, at once.
      let delayed = 0
      const unfiltered = (url: URL) => url.pathname.endsWith("/api/events") && !url.searchParams.has("eventType")
      await page.route(unfiltered, async (route) => {
        delayed++
        await new Promise((resolve) => setTimeout(resolve, 1_500))
        await route.continue().catch(() => {})
      })
      try {
        await page.goto(`${ui.url}#/log`)
        await page.getByRole("heading", { level: 1, name: "Log" }).waitFor()
        await page.locator("#f-event-type").fill("ItemAdded")
        await page.locator("#f-event-type").press("Enter")
        const table = page.getByRole("region", { name: "Events, newest first" })
        await expect.poll(() => table.locator("tbody tr").count()).toBe(2)
        await new Promise((resolve) => setTimeout(resolve, 2_000)) // the slow answer has come
        expect(delayed).toBe(1)
        expect(await table.locator("tbody tr").count()).toBe(2)
      } finally {
        await page.unroute(unfiltered)
      }
    })

    it("readable on a 390-pixel-wide phone, light and dark", async () => {
      for (const colorScheme of ["light", "dark"] as const) {
        const context = await browser.newContext({ viewport: { width: 390, height: 844 }, colorScheme, isMobile: true })
        const phone = await context.newPage()
        await phone.goto(`${ui.url}#/aggregate/o-1001`)
        await phone.getByRole("heading", { level: 1, name: /Order o-1001/ }).waitFor()
        // Nothing wider than the screen but the tables' and the graph's own scrolling boxes.
        expect(await phone.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390)
        await expectAccessible(phone)
        await shoot(`aggregate-phone-${colorScheme}.png`, phone)
        await phone.goto(`${ui.url}#/log`)
        await phone.getByRole("region", { name: "Events, newest first" }).waitFor()
        expect(await phone.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390)
        await expectAccessible(phone)
        await context.close()
      }
      const dark = await browser.newContext({ viewport: { width: 1280, height: 800 }, colorScheme: "dark" })
      const darkPage = await dark.newPage()
      await darkPage.goto(ui.url)
      await darkPage.getByTestId("backend").waitFor()
      expect(await darkPage.evaluate(() => getComputedStyle(document.body).backgroundColor)).toBe("rgb(15, 20, 25)")
      await expectAccessible(darkPage)
      await shoot("overview-dark.png", darkPage)
      await dark.close()
    })
  })

  describe(`${name}: token and writes`, () => {
    let guarded: Running
    const token = "browser-test-token-0123456789"
    beforeAll(async () => {
      guarded = await start(storeUrl, { token: Redacted.make(token), allowWrites: true, schema: schemaOf(storeUrl) })
    })
    afterAll(() => guarded?.close())

    it("without the token the page is refused; the printed address with ?token= opens it; rebuild asks first", async () => {
      const context = await browser.newContext()
      const tab = await context.newPage()
      const refused = await tab.goto(guarded.url)
      expect(refused?.status()).toBe(401)
      expect(await tab.content()).toContain("needs its token")
      await tab.goto(`${guarded.url}?token=${token}`)
      await tab.getByRole("heading", { level: 1, name: "Overview" }).waitFor()
      expect(tab.url()).not.toContain(token)
      await tab.goto(`${guarded.url}#/projections`)
      const rebuild = tab.getByRole("button", { name: "Rebuild" })
      await rebuild.waitFor()
      let asked = ""
      tab.once("dialog", (dialog) => {
        asked = dialog.message()
        void dialog.dismiss()
      })
      await rebuild.click()
      expect(asked).toContain("Rebuild projection “order-summaries”?")
      tab.once("dialog", (dialog) => void dialog.accept())
      await rebuild.click()
      await tab.getByText("Projection order-summaries reset to position 0.").waitFor()
      await expect.poll(() => tab.getByRole("region", { name: /Projections/ }).innerText()).toMatch(/order-summaries\s+behind\s+0\s+4\d/)
      await context.close()
    })

    it("a parked event retried from the UI leaves the list and lands in the read model; another is discarded", async () => {
      // A projection of the application, running in this process: printing shipping labels
      // fails while the printer is offline, and the events are parked.
      class PrinterOffline extends Data.TaggedError("PrinterOffline")<{ readonly message: string }> {}
      let printerOnline = false
      const labels = new Map<string, string>()
      const running = await guarded.run(Effect.forkDaemon(Effect.scoped(Effect.gen(function*() {
        yield* Projection.run(Projection.make({
          name: "shipping-labels",
          aggregateTypes: ["Order"],
          onFailure: "park",
          retry: Schedule.recurs(0),
          statusInterval: Duration.millis(200),
          handle: (event) => {
            const data = event.data as { readonly sku?: string }
            if (!printerOnline && (event.eventType === "OrderShipped" || data.sku === "scone")) {
              return Effect.fail(new PrinterOffline({ message: "the label printer is offline" }))
            }
            labels.set(`${event.aggregateId} v${event.aggregateVersion}`, event.eventType)
            return Effect.void
          }
        }))
        return yield* Effect.never
      }))))
      try {
        const context = await browser.newContext()
        const tab = await context.newPage()
        await tab.goto(`${guarded.url}?token=${token}`)
        await tab.getByRole("heading", { level: 1, name: "Overview" }).waitFor()
        const parked = tab.getByRole("region", { name: "Parked events of shipping-labels" })
        await expect.poll(async () => {
          await tab.goto(`${guarded.url}#/projections`)
          await tab.reload()
          await tab.getByRole("heading", { level: 1, name: "Projections" }).waitFor()
          return parked.locator("tbody tr").count()
        }, { timeout: 10_000 }).toBe(2)
        expect(await parked.innerText()).toContain("PrinterOffline: the label printer is offline")
        expect(labels.has("o-1001 v4")).toBe(false)
        await expectAccessible(tab)
        if (screenshots) await tab.screenshot({ path: Path.join(screenshotDir, "projections-parked.png") })

        printerOnline = true
        const rows = parked.locator("tbody tr")
        const shipped = rows.filter({ hasText: "PrinterOffline" }).last()
        tab.once("dialog", (dialog) => void dialog.accept())
        await shipped.getByRole("button", { name: "Retry" }).click()
        await tab.getByText(/Retry asked for the event at position/).waitFor()
        // The instance holding the partition retries at its next status interval.
        // The page looks again every 2 s while a retry is asked for.
        await expect.poll(() => parked.locator("tbody tr").count(), { timeout: 10_000 }).toBe(1)
        expect(labels.get("o-1001 v4")).toBe("OrderShipped")

        tab.once("dialog", (dialog) => void dialog.accept())
        await parked.getByRole("button", { name: "Discard" }).click()
        await tab.getByText(/Parked event at position \d+ discarded/).waitFor()
        expect(await tab.getByText("No parked events.").count()).toBe(1)
        expect(labels.has("o-1001 v3")).toBe(false)
        await context.close()
      } finally {
        await Effect.runPromise(Fiber.interrupt(running))
      }
    })

    it("read-only: retry and discard are refused (403) and their buttons disabled", async () => {
      const parkedEvents = await fetch(new URL("api/projections/parked/retry?name=shipping-labels", ui.url), { method: "POST", headers: { "x-eventuali-ui": "1" } })
      expect(parkedEvents.status).toBe(403)
      const discard = await fetch(new URL("api/projections/parked/discard?name=shipping-labels&position=1", ui.url), { method: "POST", headers: { "x-eventuali-ui": "1" } })
      expect(discard.status).toBe(403)
    })
  })
}

describe("on SQLite", () =>
  suite("UI on SQLite", () => `sqlite://${Path.join(Fs.mkdtempSync(Path.join(Os.tmpdir(), "eventuali-ui-browser-")), "shop.db")}`, true))

describePg("on PostgreSQL", () => suite("UI on PostgreSQL", () => freshUrl("ui"), false))
