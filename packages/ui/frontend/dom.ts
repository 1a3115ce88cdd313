/**
 * Building the pages: elements from plain calls (no framework: the whole UI is one small
 * script), JSON as collapsible trees, and the formats numbers and times are shown in.
 */

export type Child = Node | string | number | false | null | undefined | ReadonlyArray<Child>

export type Attributes = Record<string, string | number | boolean | EventListener | undefined>

const append = (parent: Node, child: Child): void => {
  if (child === null || child === undefined || child === false) return
  if (Array.isArray(child)) {
    for (const item of child as ReadonlyArray<Child>) append(parent, item)
    return
  }
  parent.appendChild(child instanceof Node ? child : document.createTextNode(String(child)))
}

/** Replaces the children of `parent`. */
export const fill = (parent: Element, ...children: ReadonlyArray<Child>): void => {
  parent.replaceChildren()
  append(parent, children)
}

/** An element: `h("a", { href: "#/" }, "Overview")`. Attributes starting with `on` are listeners. */
export const h = <K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attributes: Attributes = {},
  ...children: ReadonlyArray<Child>
): HTMLElementTagNameMap[K] => {
  const element = document.createElement(tag)
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === false) continue
    if (typeof value === "function") element.addEventListener(name.slice(2), value)
    else element.setAttribute(name, value === true ? "" : String(value))
  }
  append(element, children)
  return element
}

const SVG = "http://www.w3.org/2000/svg"

/** An SVG element. */
export const s = (tag: string, attributes: Record<string, string | number> = {}, ...children: ReadonlyArray<Child>): SVGElement => {
  const element = document.createElementNS(SVG, tag)
  for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, String(value))
  append(element, children)
  return element
}

export const count = (value: number): string => value.toLocaleString("en-US")

export const bytes = (value: number): string => {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"]
  let size = value
  let unit = 0
  while (size >= 1024 && unit < units.length - 1) {
    size /= 1024
    unit++
  }
  return `${unit === 0 ? size : size.toFixed(1)} ${units[unit]}`
}

/** A time as ISO 8601 without milliseconds, in UTC: the same on every screen. */
export const time = (iso: string): string => iso.replace(/\.\d{3}Z$/, "Z").replace("T", " ")

/** A link to a route of the UI. */
export const route = (path: string, params: Record<string, string | undefined> = {}): string => {
  const query = new URLSearchParams()
  for (const [key, value] of Object.entries(params)) if (value !== undefined && value !== "") query.set(key, value)
  const text = query.toString()
  return `#${path}${text === "" ? "" : `?${text}`}`
}

const leaf = (value: unknown): HTMLElement => {
  if (value === null) return h("span", { class: "json-null" }, "null")
  if (typeof value === "string") return h("span", { class: "json-string" }, JSON.stringify(value))
  if (typeof value === "number") return h("span", { class: "json-number" }, String(value))
  if (typeof value === "boolean") return h("span", { class: "json-boolean" }, String(value))
  return h("span", {}, String(value))
}

/** A JSON value as a tree whose objects and arrays open and close (native `<details>`: keyboard included). */
export const jsonTree = (value: unknown, label?: string, open = true): HTMLElement => {
  if (typeof value !== "object" || value === null) {
    return h("div", { class: "json-line" }, label === undefined ? null : h("span", { class: "json-key" }, `${label}: `), leaf(value))
  }
  const entries: ReadonlyArray<readonly [string, unknown]> = Array.isArray(value)
    ? value.map((item, index) => [String(index), item] as const)
    : Object.entries(value as Record<string, unknown>)
  const summary = Array.isArray(value) ? `[${entries.length}]` : `{${entries.length}}`
  if (entries.length === 0) {
    return h("div", { class: "json-line" }, label === undefined ? null : h("span", { class: "json-key" }, `${label}: `), Array.isArray(value) ? "[]" : "{}")
  }
  return h(
    "details",
    { class: "json", open },
    h("summary", {}, label === undefined ? null : h("span", { class: "json-key" }, `${label}: `), h("span", { class: "json-size" }, summary)),
    h("div", { class: "json-children" }, entries.map(([key, item]) => jsonTree(item, key, true)))
  )
}

export interface Change {
  readonly path: string
  readonly kind: "added" | "removed" | "changed"
  readonly before?: unknown
  readonly after?: unknown
}

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === "object" && value !== null

/** What changed from `before` to `after`, path by path. */
export const diff = (before: unknown, after: unknown, path = ""): ReadonlyArray<Change> => {
  if (isRecord(before) && isRecord(after) && Array.isArray(before) === Array.isArray(after)) {
    const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])]
    return keys.flatMap((key) => {
      const at = Array.isArray(after) ? `${path}[${key}]` : path === "" ? key : `${path}.${key}`
      if (!(key in before)) return [{ path: at, kind: "added" as const, after: after[key] }]
      if (!(key in after)) return [{ path: at, kind: "removed" as const, before: before[key] }]
      return diff(before[key], after[key], at)
    })
  }
  return JSON.stringify(before) === JSON.stringify(after) ? [] : [{ path: path === "" ? "(state)" : path, kind: "changed", before, after }]
}

/** A table in a box that scrolls sideways on a narrow screen. */
export const table = (caption: string, headers: ReadonlyArray<string>, rows: ReadonlyArray<ReadonlyArray<Child>>, numeric: ReadonlyArray<number> = []) =>
  h(
    "div",
    { class: "table-box", tabindex: 0, role: "region", "aria-label": caption },
    h(
      "table",
      {},
      h("caption", {}, caption),
      h("thead", {}, h("tr", {}, headers.map((header, index) => h("th", { scope: "col", class: numeric.includes(index) ? "num" : undefined }, header)))),
      h("tbody", {}, rows.map((row) => h("tr", {}, row.map((cell, index) => h("td", { class: numeric.includes(index) ? "num" : undefined }, cell)))))
    )
  )
