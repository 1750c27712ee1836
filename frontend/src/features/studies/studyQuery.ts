/**
 * The study list's state lives in the URL with the API's own parameter names (mrn, accession, name, modality,
 * date_from, date_to, description, referring, sort, limit, cursor), so a list can be shared and Back works.
 */
import type { StudyQuery } from '../../api/studies'
import { formatCount, isoDay } from '../../components/format'

export const PAGE_SIZES = [10, 25, 50, 100] as const
export const DEFAULT_LIMIT = 25
export const DEFAULT_SORT = '-study_date'
export const MODALITIES = ['CT', 'MR', 'US', 'CR', 'DX', 'MG', 'NM', 'PT', 'XA', 'RF', 'OT'] as const

export const FILTER_KEYS = [
  'mrn',
  'accession',
  'name',
  'date_from',
  'date_to',
  'description',
  'referring',
] as const
export type TextFilter = (typeof FILTER_KEYS)[number]

export function parseQuery(sp: URLSearchParams): StudyQuery {
  const q: StudyQuery = {}
  for (const k of FILTER_KEYS) {
    const v = sp.get(k)?.trim()
    if (v) q[k] = v
  }
  const modality = sp.getAll('modality').filter(Boolean)
  if (modality.length) q.modality = modality
  const limit = Number(sp.get('limit'))
  q.limit = Number.isInteger(limit) && limit > 0 ? limit : DEFAULT_LIMIT
  q.sort = sp.get('sort') || DEFAULT_SORT
  const cursor = sp.get('cursor')
  if (cursor) q.cursor = cursor
  return q
}

/** URL parameters for a query; defaults are left out so URLs stay short. */
export function toSearchParams(q: StudyQuery): URLSearchParams {
  const sp = new URLSearchParams()
  for (const k of FILTER_KEYS) {
    const v = q[k]
    if (v) sp.set(k, v)
  }
  for (const m of q.modality ?? []) sp.append('modality', m)
  if (q.sort && q.sort !== DEFAULT_SORT) sp.set('sort', q.sort)
  if (q.limit && q.limit !== DEFAULT_LIMIT) sp.set('limit', String(q.limit))
  if (q.cursor) sp.set('cursor', q.cursor)
  return sp
}

/** The filter part of a query (what identifies the result set, not the page). */
export function filterKey(q: StudyQuery): string {
  const { cursor: _c, sort: _s, limit: _l, ...filters } = q
  return JSON.stringify(filters)
}

export type DatePreset = 'today' | 'yesterday' | 'last7' | 'last30'

export const DATE_PRESETS: { id: DatePreset; label: string }[] = [
  { id: 'today', label: 'Today' },
  { id: 'yesterday', label: 'Yesterday' },
  { id: 'last7', label: 'Last 7 days' },
  { id: 'last30', label: 'Last 30 days' },
]

/** The [date_from, date_to] range of a preset, inclusive, in local calendar days. */
export function presetRange(preset: DatePreset, now: Date = new Date()): [string, string] {
  const day = (offset: number) => {
    const d = new Date(now.getFullYear(), now.getMonth(), now.getDate() + offset)
    return isoDay(d)
  }
  switch (preset) {
    case 'today':
      return [day(0), day(0)]
    case 'yesterday':
      return [day(-1), day(-1)]
    case 'last7':
      return [day(-6), day(0)]
    case 'last30':
      return [day(-29), day(0)]
  }
}

/** Sorting: "field" ascending, "-field" descending. */
export function sortState(sort: string | undefined, field: string): 'ascending' | 'descending' | 'none' {
  if (sort === field) return 'ascending'
  if (sort === `-${field}`) return 'descending'
  return 'none'
}

export function nextSort(sort: string | undefined, field: string): string {
  return sort === field ? `-${field}` : field
}

/** "1 study", "25 studies", "≈ 1,200,000 studies (estimate)": the count above the list. */
export function countText(total: number, estimate: boolean): string {
  if (estimate) return `≈ ${formatCount(total)} studies (estimate)`
  return `${formatCount(total)} ${total === 1 ? 'study' : 'studies'}`
}
