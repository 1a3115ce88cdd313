/** Timing, repetitions, medians and a progress line: the plumbing every workload shares. */

export interface Measurement {
  /** Operations per second (saves, loads, events: see `unit`). */
  readonly rate: number
  readonly unit: string
}

export interface Row {
  readonly backend: string
  readonly workload: string
  readonly unit: string
  readonly ours: number
  readonly raw: number | undefined
  /** ours / raw, measured in the same run. */
  readonly ratio: number | undefined
  readonly target: string
  readonly met: boolean | undefined
  readonly note?: string | undefined
}

export const median = (values: ReadonlyArray<number>): number => {
  const sorted = [...values].sort((a, b) => a - b)
  const middle = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2
}

let progressLabel = ""
export const progress = (label: string, step: number, of: number): void => {
  progressLabel = label
  if (process.stderr.isTTY) {
    process.stderr.write(`\r\x1b[2K  ${label} ${"█".repeat(step)}${"░".repeat(Math.max(0, of - step))} ${step}/${of}`)
  } else if (step === of) {
    process.stderr.write(`  ${label} done\n`)
  }
}
export const progressDone = (): void => {
  if (process.stderr.isTTY && progressLabel !== "") process.stderr.write("\r\x1b[2K")
}

/** Times `run` (which performs `operations` operations) and returns operations per second. */
export const rate = async (operations: number, run: () => Promise<unknown> | unknown): Promise<number> => {
  const start = performance.now()
  await run()
  const seconds = (performance.now() - start) / 1000
  return operations / seconds
}

/**
 * Runs ours and raw alternately `repetitions` times (so drift on a shared machine hits both),
 * returning the medians.
 */
export const compare = async (
  label: string,
  repetitions: number,
  ours: (repetition: number) => Promise<number>,
  raw: ((repetition: number) => Promise<number>) | undefined
): Promise<{ readonly ours: number; readonly raw: number | undefined }> => {
  const oursRates: Array<number> = []
  const rawRates: Array<number> = []
  for (let i = 0; i < repetitions; i++) {
    progress(label, i, repetitions)
    if (raw !== undefined) rawRates.push(await raw(i))
    oursRates.push(await ours(i))
  }
  progress(label, repetitions, repetitions)
  progressDone()
  return { ours: median(oursRates), raw: raw === undefined ? undefined : median(rawRates) }
}

const format = (n: number | undefined): string =>
  n === undefined ? "" : n >= 100 ? Math.round(n).toLocaleString("en-US") : n.toFixed(2)

export const table = (rows: ReadonlyArray<Row>): string => {
  const header = ["backend", "workload", "unit", "ours", "raw driver", "ratio", "target", "met"]
  const body = rows.map((row) => [
    row.backend,
    row.workload,
    row.unit,
    format(row.ours),
    format(row.raw),
    row.ratio === undefined ? "" : row.ratio.toFixed(2),
    row.target,
    row.met === undefined ? "" : row.met ? "yes" : "NO"
  ])
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((r) => r[i]!.length)))
  const line = (cells: ReadonlyArray<string>) =>
    "| " + cells.map((c, i) => (i >= 3 && i <= 5 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join(" | ") + " |"
  return [line(header), "|" + widths.map((w) => "-".repeat(w + 2)).join("|") + "|", ...body.map(line)].join("\n")
}
