/** Aggregates behind the dashboard: GET /api/analytics/* (maintained counters on the server). */
import { apiGet } from './http'
import type { ArchiveSummary, IngestBucket, Interval, ModalityStat, NameCount, TimeBucket } from './types'

export function getSummary(signal?: AbortSignal): Promise<ArchiveSummary> {
  return apiGet('/api/analytics/summary', { signal })
}

export function getModalities(signal?: AbortSignal): Promise<ModalityStat[]> {
  return apiGet('/api/analytics/modalities', { signal })
}

export function getStudiesOverTime(
  interval: Interval,
  dateFrom: string,
  dateTo: string,
  signal?: AbortSignal,
): Promise<TimeBucket[]> {
  return apiGet('/api/analytics/studies', { query: { interval, date_from: dateFrom, date_to: dateTo }, signal })
}

/** Stored per minute over the last `minutes` minutes, oldest first. */
export function getIngestRate(minutes: number, signal?: AbortSignal): Promise<IngestBucket[]> {
  return apiGet('/api/analytics/ingest', { query: { interval: 'minute', count: minutes }, signal })
}

export function getTopReferring(limit: number, signal?: AbortSignal): Promise<NameCount[]> {
  return apiGet('/api/analytics/referring', { query: { limit }, signal })
}

export function getTopInstitutions(limit: number, signal?: AbortSignal): Promise<NameCount[]> {
  return apiGet('/api/analytics/institutions', { query: { limit }, signal })
}
