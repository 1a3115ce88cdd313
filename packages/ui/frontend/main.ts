/**
 * Eventuali UI in the browser: the frame (skip link, navigation), and the hash router that
 * shows one page at a time. Routes: `#/` Overview, `#/log`, `#/aggregate/ID`,
 * `#/causation/EVENT_ID`, `#/live`, `#/projections`.
 */
import { h } from "./dom.js"
import * as Pages from "./pages.js"

const routes: ReadonlyArray<{ readonly prefix: string; readonly page: Pages.Page; readonly nav?: string }> = [
  { prefix: "/log", page: Pages.log, nav: "Log" },
  { prefix: "/aggregate/", page: Pages.aggregate },
  { prefix: "/causation/", page: Pages.causation },
  { prefix: "/live", page: Pages.live, nav: "Live" },
  { prefix: "/projections", page: Pages.projections, nav: "Projections" }
]

const main = h("main", { id: "main", tabindex: -1, "aria-labelledby": "page-title" })
const links = [
  h("a", { href: "#/", "data-prefix": "/" }, "Overview"),
  ...routes.filter((entry) => entry.nav !== undefined).map((entry) => h("a", { href: `#${entry.prefix}`, "data-prefix": entry.prefix }, entry.nav!))
]

document.body.replaceChildren(
  h("a", { href: "#main", class: "skip", onclick: (event: Event) => {
    event.preventDefault()
    main.focus()
  } }, "Skip to content"),
  h("header", {}, h("a", { href: "#/", class: "brand" }, "Eventuali"), h("nav", { "aria-label": "Pages" }, links)),
  main
)

let leave: Pages.Leave | void = undefined
let shown = 0

const show = async () => {
  const hash = location.hash.replace(/^#/, "") || "/"
  const [path = "/", search = ""] = hash.split("?", 2)
  const entry = routes.find((candidate) => path.startsWith(candidate.prefix))
  for (const link of links) {
    const prefix = link.dataset["prefix"]!
    const current = prefix === "/" ? entry === undefined : entry?.prefix === prefix
    if (current) link.setAttribute("aria-current", "page")
    else link.removeAttribute("aria-current")
  }
  leave?.()
  leave = undefined
  const turn = ++shown
  const page = entry?.page ?? Pages.overview
  const rest = entry === undefined ? "" : path.slice(entry.prefix.length)
  // Each visit renders into a view of its own: a page that answers after the user moved on (a
  // slow first request of the log, overtaken by its filtered one) writes into a view no longer
  // shown, never over the page that replaced it.
  const view = h("div", { class: "view" })
  main.replaceChildren(view)
  const left = await page(view, new URLSearchParams(search), rest)
  // The user may have moved on while this page loaded: close what it opened.
  if (turn !== shown) left?.()
  else leave = left
  const title = main.querySelector("h1")?.textContent
  document.title = title === undefined || title === null ? "Eventuali" : `${title} · Eventuali`
}

window.addEventListener("hashchange", () => {
  void show().then(() => main.focus({ preventScroll: false }))
})
void show()
