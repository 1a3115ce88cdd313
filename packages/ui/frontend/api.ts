/**
 * The UI's API as the pages call it: JSON over relative URLs (the page's `<base>` is where the
 * UI is mounted), errors as messages to show.
 */

export interface EventView {
  readonly position: string
  readonly eventId: string
  readonly eventType: string
  readonly eventVersion: number
  readonly aggregateId: string
  readonly aggregateType: string
  readonly aggregateVersion: number
  readonly timestamp: string
  readonly metadata: Record<string, unknown>
  readonly data: unknown
}

export interface ProjectionView {
  readonly name: string
  readonly position: string
  readonly updatedAt: string
  readonly lag: number
  readonly lagAtLeast: boolean
}

export interface Overview {
  readonly backend: "sqlite" | "postgres"
  readonly schemaVersion: number
  readonly latestSchemaVersion: number
  readonly sizeBytes: number
  readonly counts: "exact" | "estimate"
  readonly events: number
  readonly aggregates: number
  readonly head: string
  readonly aggregateTypes: ReadonlyArray<{ readonly name: string; readonly events: number; readonly aggregates: number }>
  readonly eventTypes: ReadonlyArray<{ readonly name: string; readonly events: number }>
  readonly perMinute: ReadonlyArray<{ readonly minute: string; readonly events: number }>
  readonly projections: ReadonlyArray<ProjectionView>
  readonly allowWrites: boolean
  readonly foldableTypes: ReadonlyArray<string>
}

export interface LogPage {
  readonly events: ReadonlyArray<EventView>
  readonly newer: string | null
  readonly older: string | null
  readonly scannedDownTo: string | null
}

export interface AggregateView {
  readonly aggregateId: string
  readonly aggregateType: string
  readonly version: number
  readonly events: ReadonlyArray<EventView>
  readonly foldable: boolean
}

export interface AggregateState {
  readonly version: number
  readonly state: unknown
  readonly previous: unknown
}

export interface CausationNode {
  readonly position: string
  readonly eventId: string
  readonly eventType: string
  readonly aggregateId: string
  readonly aggregateType: string
  readonly aggregateVersion: number
  readonly timestamp: string
  readonly correlationId: string | null
  readonly causationId: string | null
}

export interface Causation {
  readonly eventId: string
  readonly chain: ReadonlyArray<string>
  readonly nodes: ReadonlyArray<CausationNode>
  readonly truncated: boolean
}

export interface ParkedView {
  readonly name: string
  readonly partition: number
  readonly position: string
  readonly eventId: string
  readonly errorTag: string
  readonly errorMessage: string
  readonly attempts: number
  readonly parkedAt: string
  readonly retryRequested: boolean
}

export interface ProjectionStatusView {
  readonly name: string
  readonly partitions: number
  readonly aggregateTypes: ReadonlyArray<string>
  readonly eventTypes: ReadonlyArray<string>
  readonly head: string
  readonly lagCapped: boolean
  readonly partitionStatus: ReadonlyArray<{
    readonly partition: number
    readonly holder: string | null
    readonly position: string
    readonly handled: number
    readonly lagEvents: number
    readonly lagMillis: number
    readonly parked: number
  }>
  readonly parked: ReadonlyArray<ParkedView>
  readonly build: {
    readonly projection: string
    readonly version: number
    readonly generation: number
    readonly role: "serving" | "building" | "replaced"
    readonly rebuilding: string | null
  } | null
  readonly rebuildable: boolean
}

export interface RebuildView extends ProjectionView {
  readonly inPlace: boolean
  readonly alreadyRequested: boolean
}

export class ApiError extends Error {
  constructor(readonly status: number, message: string) {
    super(message)
  }
}

const messageOf = (body: unknown, status: number): string => {
  if (typeof body === "object" && body !== null && "message" in body && typeof body.message === "string") return body.message
  return `The server answered ${status}`
}

const call = async <A>(path: string, init: RequestInit = {}): Promise<A> => {
  const response = await fetch(path, { ...init, headers: { accept: "application/json", ...init.headers } })
  const body: unknown = await response.json().catch(() => undefined)
  if (!response.ok) throw new ApiError(response.status, messageOf(body, response.status))
  return body as A
}

const query = (params: Record<string, string | undefined>): string => {
  const search = new URLSearchParams()
  for (const [key, value] of Object.entries(params)) if (value !== undefined && value !== "") search.set(key, value)
  const text = search.toString()
  return text === "" ? "" : `?${text}`
}

export const overview = () => call<Overview>("api/overview")
export const log = (params: Record<string, string | undefined>) => call<LogPage>(`api/events${query(params)}`)
export const aggregate = (id: string) => call<AggregateView>(`api/aggregate${query({ aggregateId: id })}`)
export const aggregateState = (id: string, version: number) =>
  call<AggregateState>(`api/aggregate/state${query({ aggregateId: id, version: String(version) })}`)
export const causation = (eventId: string) => call<Causation>(`api/causation${query({ eventId })}`)
export const projections = () => call<ReadonlyArray<ProjectionView>>("api/projections")
export const rebuild = (name: string) =>
  call<RebuildView>(`api/projections/rebuild${query({ name })}`, { method: "POST", headers: { "x-eventuali-ui": "1" } })
export const projectionStatus = () => call<ReadonlyArray<ProjectionStatusView>>("api/projections/status")
const write = { method: "POST", headers: { "x-eventuali-ui": "1" } } as const
export const retryParked = (name: string, position: string) =>
  call<ReadonlyArray<ParkedView>>(`api/projections/parked/retry${query({ name, position })}`, write)
export const discardParked = (name: string, position: string) =>
  call<ParkedView>(`api/projections/parked/discard${query({ name, position })}`, write)
export const liveUrl = (params: Record<string, string | undefined>) => `api/live${query(params)}`
