/**
 * What the commands print: aligned tables and key/value lists for people, one JSON value per line
 * for scripts.
 */
import type { EventEnvelope } from "@eventuali/core/Event"
import { Duration } from "effect"

export type Align = "left" | "right"

/** Columns padded to their widest cell; `align` per column (default left). */
export const table = (
  headers: ReadonlyArray<string>,
  rows: ReadonlyArray<ReadonlyArray<string>>,
  align: ReadonlyArray<Align> = []
): string => {
  const widths = headers.map((header, column) => Math.max(header.length, ...rows.map((row) => (row[column] ?? "").length)))
  const line = (cells: ReadonlyArray<string>) =>
    cells
      .map((cell, column) => align[column] === "right" ? cell.padStart(widths[column]!) : cell.padEnd(widths[column]!))
      .join("  ")
      .trimEnd()
  return [line(headers), ...rows.map(line)].join("\n")
}

/** `key  value` lines, keys padded to the longest. */
export const keyValues = (pairs: ReadonlyArray<readonly [string, string]>): string => {
  const width = Math.max(...pairs.map(([key]) => key.length))
  return pairs.map(([key, value]) => `${key.padEnd(width)}  ${value}`).join("\n")
}

/** `12,345` */
export const count = (n: number): string => n.toLocaleString("en-US")

/** `n` and a noun, in the singular for one: "1 event", "2 events". */
export const counted = (n: number, noun: string): string => `${count(n)} ${n === 1 ? noun : `${noun}s`}`

/** `1.23 s` */
export const seconds = (duration: Duration.Duration): string => `${(Duration.toMillis(duration) / 1000).toFixed(2)} s`

/** How many per second, for `count` things done in `duration`. */
export const perSecond = (done: number, duration: Duration.Duration): string =>
  count(Math.round(done / Math.max(Duration.toSeconds(duration), 1e-6)))

/** `12.3 MiB` */
export const bytes = (n: number): string => {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"]
  let value = n
  let unit = 0
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024
    unit++
  }
  return unit === 0 ? `${n} B` : `${value.toFixed(1)} ${units[unit]}`
}

/** At most `max` characters, ending with `…` when cut. */
export const truncate = (text: string, max: number): string => text.length <= max ? text : `${text.slice(0, max - 1)}…`

/** JSON for a JSON value, with `bigint`s as strings (positions exceed 2^53 on PostgreSQL). */
export const json = (value: unknown): string =>
  JSON.stringify(value, (_key, inner: unknown) => typeof inner === "bigint" ? inner.toString() : inner)

/** The columns `events` and `tail` show for people. */
export const eventHeaders: ReadonlyArray<string> = ["Position", "Timestamp", "Aggregate", "Version", "Event type", "Data"]
export const eventAlign: ReadonlyArray<Align> = ["right", "left", "left", "right", "left", "left"]

export const eventCells = (event: EventEnvelope): ReadonlyArray<string> => [
  event.position.toString(),
  event.timestamp.toISOString(),
  `${event.aggregateType}/${event.aggregateId}`,
  String(event.aggregateVersion),
  event.eventVersion === 1 ? event.eventType : `${event.eventType} (v${event.eventVersion})`,
  truncate(json(event.data), 80)
]
