/** Aggregates behind the dashboard: GET /api/analytics/*. */
import { getJson } from './http'
import type { ModalityStat } from './types'

export type Period = 'day' | 'week' | 'month'

export interface TimeBucket {
  period_start: string
  studies: number
}

export interface RankedName {
  name: string
  studies: number
}

export interface IngestPoint {
  minute: string
  instances: number
}

export function getModalities(signal?: AbortSignal): Promise<ModalityStat[]> {
  return getJson<ModalityStat[]>('/analytics/modalities', {}, signal)
}

export function getStudiesOverTime(
  period: Period,
  dateFrom: string,
  dateTo: string,
  signal?: AbortSignal,
): Promise<TimeBucket[]> {
  return getJson<TimeBucket[]>('/analytics/studies', { period, date_from: dateFrom, date_to: dateTo }, signal)
}

export function getIngestRate(signal?: AbortSignal): Promise<IngestPoint[]> {
  return getJson<IngestPoint[]>('/analytics/ingest', {}, signal)
}

export function getTopReferring(limit: number, signal?: AbortSignal): Promise<RankedName[]> {
  return getJson<RankedName[]>('/analytics/referring', { limit }, signal)
}

export function getTopInstitutions(limit: number, signal?: AbortSignal): Promise<RankedName[]> {
  return getJson<RankedName[]>('/analytics/institutions', { limit }, signal)
}
