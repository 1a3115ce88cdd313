/**
 * The pages. Each takes the route's parameters and the `main` element, fills it, and returns
 * what to do when the user leaves it (close the live stream, stop a refresh).
 */
import * as Api from "./api.js"
import { bytes, type Child, count, diff, fill, h, jsonTree, route, s, table, time } from "./dom.js"

export type Leave = () => void
export type Page = (main: HTMLElement, params: URLSearchParams, rest: string) => Promise<Leave | void>

const heading = (text: string, ...extra: ReadonlyArray<Child>) => h("h1", { id: "page-title" }, text, ...extra)

const errorBox = (error: unknown) =>
  h("p", { class: "error", role: "alert" }, error instanceof Error ? error.message : String(error))

/** Runs `load`, showing its error in place of the page. */
const guarded = async (main: HTMLElement, load: () => Promise<Leave | void>): Promise<Leave | void> => {
  try {
    return await load()
  } catch (error) {
    fill(main, heading("Something went wrong"), errorBox(error))
  }
}

const aggregateLink = (id: string) => h("a", { href: route(`/aggregate/${encodeURIComponent(id)}`) }, id)
const causationLink = (eventId: string, text: string = eventId) =>
  h("a", { href: route(`/causation/${encodeURIComponent(eventId)}`), title: `Causation of event ${eventId}` }, text)
const logLink = (params: Record<string, string>, text: string) => h("a", { href: route("/log", params) }, text)

// --- Overview ------------------------------------------------------------------------------------

const chart = (perMinute: Api.Overview["perMinute"]) => {
  const width = 600
  const height = 120
  const max = Math.max(1, ...perMinute.map((bucket) => bucket.events))
  const barWidth = width / Math.max(1, perMinute.length)
  const total = perMinute.reduce((sum, bucket) => sum + bucket.events, 0)
  const peak = perMinute.reduce((best, bucket) => bucket.events > best.events ? bucket : best, perMinute[0] ?? { minute: "", events: 0 })
  const label = `Events per minute over the last hour: ${count(total)} in all${total > 0 ? `, at most ${count(peak.events)} (at ${time(peak.minute)})` : ""}`
  return h(
    "figure",
    { class: "chart" },
    s(
      "svg",
      { viewBox: `0 0 ${width} ${height + 1}`, role: "img", "aria-label": label, preserveAspectRatio: "none" },
      perMinute.map((bucket, index) => {
        const barHeight = bucket.events === 0 ? 0 : Math.max(2, (bucket.events / max) * height)
        return s(
          "rect",
          { x: index * barWidth + 1, y: height - barHeight, width: Math.max(1, barWidth - 2), height: barHeight, class: "bar" },
          s("title", {}, `${time(bucket.minute)}: ${count(bucket.events)} events`)
        )
      }),
      s("line", { x1: 0, y1: height + 0.5, x2: width, y2: height + 0.5, class: "axis" })
    ),
    h("div", { class: "ticks", "aria-hidden": "true" }, h("span", {}, "60 minutes ago"), h("span", {}, "now")),
    h("figcaption", {}, label)
  )
}

const projectionRows = (projections: ReadonlyArray<Api.ProjectionView>) =>
  projections.map((projection) => [
    projection.name,
    projection.position,
    `${count(projection.lag)}${projection.lagAtLeast ? "+" : ""}`,
    time(projection.updatedAt)
  ])

export const overview: Page = (main) =>
  guarded(main, async () => {
    let timer: number | undefined
    const render = async () => {
      const data = await Api.overview()
      const estimate = data.counts === "estimate"
      fill(main, 
        heading("Overview"),
        h(
          "dl",
          { class: "cards" },
          h("div", {}, h("dt", {}, "Events"), h("dd", { "data-testid": "events-count" }, `${estimate ? "≈ " : ""}${count(data.events)}`)),
          h("div", {}, h("dt", {}, "Aggregates"), h("dd", { "data-testid": "aggregates-count" }, estimate ? "counting…" : count(data.aggregates))),
          h("div", {}, h("dt", {}, "Aggregate types"), h("dd", {}, estimate ? "counting…" : count(data.aggregateTypes.length))),
          h("div", {}, h("dt", {}, "Event types"), h("dd", {}, estimate ? "counting…" : count(data.eventTypes.length))),
          h("div", {}, h("dt", {}, "Backend"), h("dd", { "data-testid": "backend" }, data.backend === "sqlite" ? "SQLite" : "PostgreSQL")),
          h("div", {}, h("dt", {}, "Size"), h("dd", {}, bytes(data.sizeBytes))),
          h(
            "div",
            {},
            h("dt", {}, "Schema version"),
            h("dd", {}, `${data.schemaVersion}${data.schemaVersion === data.latestSchemaVersion ? "" : ` (this version knows ${data.latestSchemaVersion})`}`)
          ),
          h("div", {}, h("dt", {}, "Head position"), h("dd", {}, data.head))
        ),
        estimate ? h("p", { class: "note", role: "status" }, "Counting the events (once, in the background); the figures above are estimates.") : null,
        h("h2", {}, "Last hour"),
        data.perMinute.length === 0 ? h("p", { class: "note" }, "The chart appears once the events are counted.") : chart(data.perMinute),
        h(
          "div",
          { class: "columns" },
          h(
            "section",
            { "aria-labelledby": "aggregate-types" },
            h("h2", { id: "aggregate-types" }, "Aggregate types"),
            table(
              "Aggregate types by events",
              ["Aggregate type", "Aggregates", "Events"],
              data.aggregateTypes.map((row) => [logLink({ aggregateType: row.name }, row.name), count(row.aggregates), count(row.events)]),
              [1, 2]
            )
          ),
          h(
            "section",
            { "aria-labelledby": "event-types" },
            h("h2", { id: "event-types" }, "Event types"),
            table(
              "Event types by events",
              ["Event type", "Events"],
              data.eventTypes.map((row) => [logLink({ eventType: row.name }, row.name), count(row.events)]),
              [1]
            )
          )
        ),
        h("h2", {}, "Projections"),
        data.projections.length === 0
          ? h("p", { class: "note" }, "No projection has stored a checkpoint.")
          : table("Projections and their lag", ["Projection", "Position", "Lag (events)", "Updated"], projectionRows(data.projections), [1, 2])
      )
      // Estimates until the first count ends: look again shortly.
      if (estimate) timer = window.setTimeout(() => void render().catch((error) => main.append(errorBox(error))), 1000)
    }
    await render()
    return () => window.clearTimeout(timer)
  })

// --- Log -----------------------------------------------------------------------------------------

const FILTERS = ["aggregateType", "eventType", "since", "until", "search", "searchBy"] as const

/** A `datetime-local` value (the user's local time) as an ISO instant. */
const instantOf = (local: string | null): string | undefined => {
  if (local === null || local === "") return undefined
  const date = new Date(local)
  return Number.isNaN(date.getTime()) ? undefined : date.toISOString()
}

const eventRows = (events: ReadonlyArray<Api.EventView>) =>
  events.map((event) => [
    event.position,
    time(event.timestamp),
    event.aggregateType,
    h("span", {}, aggregateLink(event.aggregateId), ` v${event.aggregateVersion}`),
    event.eventType,
    causationLink(event.eventId, event.eventId.slice(0, 13) + (event.eventId.length > 13 ? "…" : ""))
  ])

const field = (id: string, label: string, input: HTMLElement) => h("div", { class: "field" }, h("label", { for: id }, label), input)

export const log: Page = (main, params) =>
  guarded(main, async () => {
    const searchBy = params.get("searchBy") ?? "aggregateId"
    const search = params.get("search") ?? ""
    const request: Record<string, string | undefined> = {
      aggregateType: params.get("aggregateType") ?? undefined,
      eventType: params.get("eventType") ?? undefined,
      since: instantOf(params.get("since")),
      until: instantOf(params.get("until")),
      before: params.get("before") ?? undefined,
      after: params.get("after") ?? undefined,
      limit: "50",
      ...(search === "" ? {} : { [searchBy]: search })
    }
    const form = h(
      "form",
      { class: "filters", role: "search", "aria-label": "Filter the log" },
      field("f-aggregate-type", "Aggregate type", h("input", { id: "f-aggregate-type", name: "aggregateType", value: params.get("aggregateType") ?? "" })),
      field("f-event-type", "Event type", h("input", { id: "f-event-type", name: "eventType", value: params.get("eventType") ?? "" })),
      field("f-since", "From (local time)", h("input", { id: "f-since", name: "since", type: "datetime-local", step: 1, value: params.get("since") ?? "" })),
      field("f-until", "Until (local time)", h("input", { id: "f-until", name: "until", type: "datetime-local", step: 1, value: params.get("until") ?? "" })),
      field(
        "f-search-by",
        "Search by",
        h(
          "select",
          { id: "f-search-by", name: "searchBy" },
          [["aggregateId", "Aggregate id"], ["eventId", "Event id"], ["correlationId", "Correlation id"]].map(([value, text]) =>
            h("option", { value: value!, selected: value === searchBy }, text!)
          )
        )
      ),
      field("f-search", "Search", h("input", { id: "f-search", name: "search", type: "search", value: search })),
      h("div", { class: "field actions" }, h("button", { type: "submit" }, "Apply"), h("a", { href: route("/log"), class: "button secondary" }, "Clear"))
    )
    form.addEventListener("submit", (event) => {
      event.preventDefault()
      const data = new FormData(form)
      const next: Record<string, string> = {}
      for (const key of FILTERS) {
        const value = data.get(key)
        if (typeof value === "string" && value !== "" && (key !== "searchBy" || data.get("search") !== "")) next[key] = value
      }
      location.hash = route("/log", next)
    })
    fill(main, heading("Log"), form, h("p", { role: "status", class: "note" }, "Loading…"))
    const page = await Api.log(request)
    const keep: Record<string, string> = {}
    for (const key of FILTERS) {
      const value = params.get(key)
      if (value !== null && value !== "") keep[key] = value
    }
    const pager = h(
      "nav",
      { class: "pager", "aria-label": "Pages of the log" },
      page.newer === null
        ? h("span", { class: "button disabled", "aria-disabled": "true" }, "← Newer")
        : h("a", { class: "button", href: route("/log", { ...keep, after: page.newer }), rel: "prev" }, "← Newer"),
      page.older === null
        ? h("span", { class: "button disabled", "aria-disabled": "true" }, "Older →")
        : h("a", { class: "button", href: route("/log", { ...keep, before: page.older }), rel: "next" }, "Older →")
    )
    fill(main, 
      heading("Log"),
      form,
      h("p", { role: "status", class: "note" }, `${count(page.events.length)} events${page.events.length > 0 ? `, positions ${page.events[page.events.length - 1]!.position} to ${page.events[0]!.position}` : ""}`,
        page.scannedDownTo === null ? "" : ` (a correlation id search reads the log a window at a time: searched down to position ${page.scannedDownTo}; “Older” searches further)`),
      page.events.length === 0
        ? h("p", {}, "No events match.")
        : table("Events, newest first", ["Position", "Time (UTC)", "Aggregate type", "Aggregate", "Event type", "Event id"], eventRows(page.events), [0]),
      pager
    )
  })

// --- Aggregate -----------------------------------------------------------------------------------

const stateView = (id: string, version: number) => {
  const box = h("div", { class: "state", "aria-live": "polite" })
  const show = async (at: number) => {
    box.replaceChildren(h("p", { class: "note" }, "Folding…"))
    try {
      const state = await Api.aggregateState(id, at)
      const changes = diff(state.previous, state.state)
      box.replaceChildren(
        h("h3", {}, `State after version ${state.version}`),
        jsonTree(state.state),
        h("h3", {}, `Changes from version ${state.version - 1}`),
        changes.length === 0
          ? h("p", {}, "No change.")
          : h(
            "ul",
            { class: "diff" },
            changes.map((change) =>
              h(
                "li",
                { class: change.kind },
                h("code", {}, change.path),
                ` ${change.kind}: `,
                change.kind === "added" ? h("code", {}, JSON.stringify(change.after)) : null,
                change.kind === "removed" ? h("code", {}, JSON.stringify(change.before)) : null,
                change.kind === "changed" ? [h("code", {}, JSON.stringify(change.before)), " → ", h("code", {}, JSON.stringify(change.after))] : null
              )
            )
          )
      )
    } catch (error) {
      box.replaceChildren(errorBox(error))
    }
  }
  const select = h(
    "select",
    { id: "state-version" },
    Array.from({ length: version }, (_, index) => h("option", { value: index + 1, selected: index + 1 === version }, `version ${index + 1}`))
  )
  select.addEventListener("change", () => void show(Number(select.value)))
  void show(version)
  return h("section", { "aria-labelledby": "state-title", class: "panel" }, h("h2", { id: "state-title" }, "State"), field("state-version", "State after", select), box)
}

export const aggregate: Page = (main, _params, rest) =>
  guarded(main, async () => {
    const id = decodeURIComponent(rest)
    const view = await Api.aggregate(id)
    fill(main, 
      heading(`${view.aggregateType} `, h("span", { class: "id" }, view.aggregateId)),
      h("p", { class: "note" }, `${count(view.version)} versions${view.events.length < view.version ? ` (the first ${count(view.events.length)} shown)` : ""}`),
      view.foldable
        ? stateView(view.aggregateId, Math.min(view.version, view.events.length))
        : h("p", { class: "note" }, "Mount the UI with this type's Aggregate definition (aggregates option) to see its state after each version."),
      h("h2", {}, "Events"),
      h(
        "ol",
        { class: "events" },
        view.events.map((event) =>
          h(
            "li",
            { class: "event" },
            h(
              "div",
              { class: "event-head" },
              h("strong", {}, `v${event.aggregateVersion} ${event.eventType}`),
              h("span", { class: "note" }, ` ${time(event.timestamp)} · position ${event.position} · `),
              causationLink(event.eventId, "causation")
            ),
            jsonTree(event.data, "data"),
            jsonTree(event.metadata, "metadata", false)
          )
        )
      )
    )
  })

// --- Causation -----------------------------------------------------------------------------------

const graph = (data: Api.Causation) => {
  const byId = new Map(data.nodes.map((node) => [node.eventId, node] as const))
  const depth = new Map<string, number>()
  for (const node of data.nodes) {
    const parent = node.causationId === null ? undefined : depth.get(node.causationId)
    depth.set(node.eventId, parent === undefined ? 0 : parent + 1)
  }
  const columns = new Map<number, Array<Api.CausationNode>>()
  for (const node of data.nodes) {
    const level = depth.get(node.eventId) ?? 0
    columns.set(level, [...(columns.get(level) ?? []), node])
  }
  const boxWidth = 200
  const boxHeight = 48
  const gapX = 60
  const gapY = 16
  const position = new Map<string, { readonly x: number; readonly y: number }>()
  for (const [level, nodes] of columns) {
    nodes.forEach((node, index) => position.set(node.eventId, { x: 10 + level * (boxWidth + gapX), y: 10 + index * (boxHeight + gapY) }))
  }
  const width = 20 + Math.max(1, columns.size) * (boxWidth + gapX)
  const height = 20 + Math.max(1, ...[...columns.values()].map((nodes) => nodes.length)) * (boxHeight + gapY)
  const edges = data.nodes.flatMap((node) => {
    const from = node.causationId === null ? undefined : position.get(node.causationId)
    const to = position.get(node.eventId)
    return from === undefined || to === undefined ? [] : [
      s("path", {
        class: "edge",
        d: `M ${from.x + boxWidth} ${from.y + boxHeight / 2} C ${from.x + boxWidth + gapX / 2} ${from.y + boxHeight / 2}, ${to.x - gapX / 2} ${to.y + boxHeight / 2}, ${to.x} ${to.y + boxHeight / 2}`,
        "marker-end": "url(#arrow)"
      })
    ]
  })
  const boxes = data.nodes.map((node) => {
    const at = position.get(node.eventId)!
    const focus = node.eventId === data.eventId
    return s(
      "a",
      { href: route(`/causation/${encodeURIComponent(node.eventId)}`) },
      s("rect", { x: at.x, y: at.y, width: boxWidth, height: boxHeight, rx: 6, class: focus ? "node focus" : "node" }),
      s("text", { x: at.x + 8, y: at.y + 19, class: "node-title" }, node.eventType.slice(0, 26)),
      s("text", { x: at.x + 8, y: at.y + 37, class: "node-sub" }, `${node.aggregateType} ${node.aggregateId}`.slice(0, 30))
    )
  })
  void byId
  return h(
    "div",
    { class: "graph-box" },
    s(
      "svg",
      { width, height, viewBox: `0 0 ${width} ${height}`, role: "group", "aria-label": "Causation graph: each arrow goes from a cause to its effect" },
      s("defs", {}, s("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse" }, s("path", { d: "M 0 0 L 10 5 L 0 10 z", class: "arrow" }))),
      edges,
      boxes
    )
  )
}

export const causation: Page = (main, _params, rest) =>
  guarded(main, async () => {
    const eventId = decodeURIComponent(rest)
    const data = await Api.causation(eventId)
    const byId = new Map(data.nodes.map((node) => [node.eventId, node] as const))
    const event = byId.get(eventId)
    fill(main, 
      heading("Causation"),
      event === undefined ? null : h(
        "p",
        {},
        `Event ${event.eventType} (`,
        h("code", {}, event.eventId),
        ") of ",
        aggregateLink(event.aggregateId),
        event.correlationId === null ? ", no correlation id" : [", correlation id ", h("code", {}, event.correlationId)]
      ),
      data.truncated ? h("p", { class: "note" }, "The graph was cut: it follows at most 300 events, within the 5,000 events after the first cause.") : null,
      h("h2", {}, "Chain"),
      h(
        "ol",
        { class: "chain" },
        data.chain.map((id) => {
          const node = byId.get(id)
          return h("li", {}, node === undefined ? id : [causationLink(id, node.eventType), " of ", aggregateLink(node.aggregateId), ` v${node.aggregateVersion}`])
        })
      ),
      h("h2", {}, `Graph (${count(data.nodes.length)} events)`),
      graph(data),
      h("h2", {}, "Events of the graph"),
      table(
        "Events linked by causation and correlation",
        ["Position", "Event type", "Aggregate", "Caused by", "Correlation id"],
        data.nodes.map((node) => [
          node.position,
          causationLink(node.eventId, node.eventType),
          aggregateLink(node.aggregateId),
          node.causationId === null ? "—" : byId.has(node.causationId) ? causationLink(node.causationId, byId.get(node.causationId)!.eventType) : node.causationId,
          node.correlationId ?? "—"
        ]),
        [0]
      )
    )
  })

// --- Live ----------------------------------------------------------------------------------------

const MAX_LIVE = 200

export const live: Page = async (main, params) => {
  const filter = { aggregateType: params.get("aggregateType") ?? undefined, eventType: params.get("eventType") ?? undefined }
  const list = h("ol", { class: "live", reversed: true, "aria-label": "Events as they are committed, newest first" })
  const status = h("p", { role: "status", class: "note" }, "Connecting…")
  let paused = false
  let received = 0
  const held: Array<Api.EventView> = []
  const pause = h("button", { type: "button", "aria-pressed": "false" }, "Pause")
  const show = (event: Api.EventView) => {
    list.prepend(h(
      "li",
      { class: "event" },
      h("strong", {}, event.eventType),
      " ",
      aggregateLink(event.aggregateId),
      ` v${event.aggregateVersion} · ${event.aggregateType} · position ${event.position} · ${time(event.timestamp)} · `,
      causationLink(event.eventId, "causation"),
      jsonTree(event.data, "data", false)
    ))
    while (list.children.length > MAX_LIVE) list.lastElementChild!.remove()
  }
  const describe = () => `${count(received)} events received${paused ? `, paused (${count(held.length)} waiting)` : ""}`
  pause.addEventListener("click", () => {
    paused = !paused
    pause.textContent = paused ? "Resume" : "Pause"
    pause.setAttribute("aria-pressed", String(paused))
    if (!paused) for (const event of held.splice(0)) show(event)
    status.textContent = describe()
  })
  const form = h(
    "form",
    { class: "filters", role: "search", "aria-label": "Filter the live events" },
    field("l-aggregate-type", "Aggregate type", h("input", { id: "l-aggregate-type", name: "aggregateType", value: filter.aggregateType ?? "" })),
    field("l-event-type", "Event type", h("input", { id: "l-event-type", name: "eventType", value: filter.eventType ?? "" })),
    h("div", { class: "field actions" }, h("button", { type: "submit" }, "Apply"), pause)
  )
  form.addEventListener("submit", (event) => {
    event.preventDefault()
    const data = new FormData(form)
    const next: Record<string, string> = {}
    for (const key of ["aggregateType", "eventType"]) {
      const value = data.get(key)
      if (typeof value === "string" && value !== "") next[key] = value
    }
    location.hash = route("/live", next)
  })
  fill(main, heading("Live"), form, status, list)
  const source = new EventSource(Api.liveUrl(filter))
  source.addEventListener("open", () => {
    status.textContent = describe()
  })
  source.addEventListener("message", (message) => {
    const event = JSON.parse(message.data) as Api.EventView
    received++
    if (paused) held.push(event)
    else show(event)
    status.textContent = describe()
  })
  source.addEventListener("failure", (message) => {
    status.textContent = `The live stream failed: ${(JSON.parse((message as MessageEvent<string>).data) as { message: string }).message}`
  })
  source.addEventListener("error", () => {
    status.textContent = "Disconnected; reconnecting…"
  })
  return () => source.close()
}

// --- Projections ---------------------------------------------------------------------------------

const duration = (millis: number): string =>
  millis === 0 ? "—" : millis < 1000 ? `${millis} ms` : millis < 120_000 ? `${Math.round(millis / 1000)} s` : `${Math.round(millis / 60_000)} min`

export const projections: Page = (main) =>
  guarded(main, async () => {
    let timer: number | undefined
    let left = false
    /** Shows the page with `message` in its status line. */
    const render = async (message: string): Promise<void> => {
      window.clearTimeout(timer)
      const [data, registered, overview] = await Promise.all([Api.projections(), Api.projectionStatus(), Api.overview()])
      if (left) return
      const status = h("p", { role: "status", class: "note" }, message)
      /** Runs a write, then shows the page again with what it did. */
      const act = async (question: string, action: () => Promise<string>) => {
        if (!window.confirm(question)) return
        try {
          await render(await action())
        } catch (error) {
          status.textContent = error instanceof Error ? error.message : String(error)
        }
      }
      const writeButton = (text: string, label: string, onclick: () => void, danger = false) =>
        h("button", {
          type: "button",
          class: danger ? "danger" : undefined,
          "aria-label": label,
          disabled: !overview.allowWrites,
          "aria-describedby": overview.allowWrites ? undefined : "read-only-note",
          onclick
        }, text)
      const rebuilt = (result: Api.RebuildView) =>
        result.inPlace
          ? `Projection ${result.name} reset to position 0.`
          : result.alreadyRequested
          ? `A rebuild is already in progress: ${result.name}.`
          : `Rebuild without downtime asked for: the running instances build ${result.name} and switch readers to it once it has caught up.`
      const rebuildButton = (name: string, rebuildable = false) =>
        writeButton("Rebuild", `Rebuild ${name}`, () =>
          void act(
            rebuildable
              ? `Rebuild projection “${name}” without downtime? The running instances build a new copy of its read model from the beginning of the log beside the one serving queries, and switch readers to it once it has caught up.`
              : `Rebuild projection “${name}”? Its checkpoint goes back to 0 and it replays the whole log at its next batch. Its read model is not cleared by the UI.`,
            async () => rebuilt(await Api.rebuild(name))
          ), true)
      const buildNote = (build: Api.ProjectionStatusView["build"]) =>
        build === null
          ? ""
          : ` · build v${build.version}${build.generation === 0 ? "" : `.g${build.generation}`} ${build.role}${
            build.rebuilding === null ? "" : ` (rebuild in progress: ${build.rebuilding})`
          }`
      const projectionSection = (projection: Api.ProjectionStatusView) =>
        h(
          "section",
          { "aria-labelledby": `projection-${projection.name}` },
          h("h2", { id: `projection-${projection.name}` }, projection.name, " ", rebuildButton(projection.name, projection.rebuildable)),
          h(
            "p",
            { class: "note" },
            `${projection.partitions} partition${projection.partitions === 1 ? "" : "s"}`,
            projection.aggregateTypes.length === 0 ? "" : ` · aggregate types ${projection.aggregateTypes.join(", ")}`,
            projection.eventTypes.length === 0 ? "" : ` · event types ${projection.eventTypes.join(", ")}`,
            ` · head ${projection.head}`,
            buildNote(projection.build)
          ),
          table(
            `Partitions of ${projection.name}`,
            ["Partition", "Status", "Held by", "Position", "Handled", "Lag (events)", "Lag (time)", "Parked"],
            projection.partitionStatus.map((partition) => [
              String(partition.partition),
              partition.parked > 0 ? "parked events" : partition.lagEvents === 0 ? "caught up" : "behind",
              partition.holder ?? "nobody",
              partition.position,
              count(partition.handled),
              `${count(partition.lagEvents)}${projection.lagCapped ? "+" : ""}`,
              duration(partition.lagMillis),
              count(partition.parked)
            ]),
            [0, 3, 4, 5, 7]
          ),
          projection.parked.length === 0 ? h("p", {}, "No parked events.") : table(
            `Parked events of ${projection.name}`,
            ["Position", "Event", "Error", "Attempts", "Parked at", "Actions"],
            projection.parked.map((parked) => [
              parked.position,
              causationLink(parked.eventId, parked.eventId.slice(0, 13) + (parked.eventId.length > 13 ? "…" : "")),
              h("span", { class: "error-text" }, `${parked.errorTag}: ${parked.errorMessage}`),
              count(parked.attempts),
              time(parked.parkedAt),
              parked.retryRequested
                ? h("span", { class: "note" }, "retry asked for")
                : h(
                  "span",
                  { class: "actions" },
                  writeButton("Retry", `Retry the event at ${parked.position}`, () =>
                    void act(
                      `Retry the parked event at position ${parked.position}? The instance holding its partition runs the handler on it again at its next status interval.`,
                      async () => {
                        await Api.retryParked(projection.name, parked.position)
                        return `Retry asked for the event at position ${parked.position}.`
                      }
                    )),
                  " ",
                  writeButton("Discard", `Discard the event at ${parked.position}`, () =>
                    void act(
                      `Discard the parked event at position ${parked.position}? It is removed without being applied to the read model.`,
                      async () => {
                        await Api.discardParked(projection.name, parked.position)
                        return `Parked event at position ${parked.position} discarded.`
                      }
                    ), true)
                )
            ]),
            [0, 3]
          )
        )
      const names = new Set(registered.map((projection) => projection.name))
      const others = data.filter((checkpoint) => !names.has(checkpoint.name.replace(/#\d+$/, "")))
      fill(
        main,
        heading("Projections"),
        overview.allowWrites
          ? null
          : h("p", { class: "note", id: "read-only-note" }, "Read-only: start the UI with --allow-writes to rebuild projections and retry or discard parked events."),
        status,
        registered.map(projectionSection),
        others.length === 0 ? null : [
          h("h2", {}, registered.length === 0 ? "Checkpoints" : "Other checkpoints"),
          table(
            "Projections: status, position and lag",
            ["Projection", "Status", "Position", "Lag (events)", "Updated", "Action"],
            others.map((projection) => [
              projection.name,
              projection.lag === 0 ? "caught up" : "behind",
              projection.position,
              `${count(projection.lag)}${projection.lagAtLeast ? "+" : ""}`,
              time(projection.updatedAt),
              rebuildButton(projection.name)
            ]),
            [2, 3]
          )
        ],
        registered.length === 0 && others.length === 0 ? h("p", {}, "No projection has stored a checkpoint.") : null
      )
      // While a retry is asked for, look again until the instance holding the partition ran it.
      if (registered.some((projection) => projection.parked.some((parked) => parked.retryRequested))) {
        timer = window.setTimeout(() => void render(status.textContent ?? "").catch((error) => main.append(errorBox(error))), 2000)
      }
    }
    await render("")
    return () => {
      left = true
      window.clearTimeout(timer)
    }
  })
