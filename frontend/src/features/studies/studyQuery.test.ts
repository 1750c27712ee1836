import { describe, expect, it } from 'vitest'

import {
  countText,
  DEFAULT_LIMIT,
  DEFAULT_SORT,
  filterKey,
  nextSort,
  parseQuery,
  presetRange,
  sortState,
  toSearchParams,
} from './studyQuery'

describe('URL state uses the API parameter names', () => {
  it('parses filters, repeated modality, sort, limit and cursor', () => {
    const q = parseQuery(
      new URLSearchParams('mrn=MRN1*&modality=CT&modality=MR&date_from=2024-01-01&sort=patient_id&limit=10&cursor=abc'),
    )
    expect(q).toEqual({
      mrn: 'MRN1*',
      modality: ['CT', 'MR'],
      date_from: '2024-01-01',
      sort: 'patient_id',
      limit: 10,
      cursor: 'abc',
    })
  })

  it('fills defaults and ignores blanks and nonsense page sizes', () => {
    const q = parseQuery(new URLSearchParams('mrn=&name=%20%20&limit=-3'))
    expect(q).toEqual({ sort: DEFAULT_SORT, limit: DEFAULT_LIMIT })
  })

  it('round-trips and leaves defaults out of the URL', () => {
    const sp = toSearchParams({ accession: 'A1', modality: ['US'], sort: DEFAULT_SORT, limit: DEFAULT_LIMIT })
    expect(sp.toString()).toBe('accession=A1&modality=US')
    const again = toSearchParams(parseQuery(new URLSearchParams('name=doe&sort=-patient_name&limit=50&cursor=c')))
    expect(again.toString()).toBe('name=doe&sort=-patient_name&limit=50&cursor=c')
  })

  it('filterKey ignores paging and sorting', () => {
    expect(filterKey({ mrn: 'x', cursor: 'a', sort: 'b', limit: 1 })).toBe(filterKey({ mrn: 'x' }))
    expect(filterKey({ mrn: 'x' })).not.toBe(filterKey({ mrn: 'y' }))
  })
})

describe('sorting', () => {
  it('toggles ascending then descending', () => {
    expect(nextSort(undefined, 'patient_id')).toBe('patient_id')
    expect(nextSort('patient_id', 'patient_id')).toBe('-patient_id')
    expect(nextSort('-patient_id', 'patient_id')).toBe('patient_id')
    expect(nextSort('-patient_id', 'study_date')).toBe('study_date')
  })

  it('reports aria-sort', () => {
    expect(sortState('patient_id', 'patient_id')).toBe('ascending')
    expect(sortState('-patient_id', 'patient_id')).toBe('descending')
    expect(sortState('-study_date', 'patient_id')).toBe('none')
  })
})

describe('date presets are local calendar days, inclusive', () => {
  const now = new Date(2024, 2, 1, 0, 30) // 1 March 2024, just after midnight (2024 is a leap year)
  it.each([
    ['today', '2024-03-01', '2024-03-01'],
    ['yesterday', '2024-02-29', '2024-02-29'],
    ['last7', '2024-02-24', '2024-03-01'],
    ['last30', '2024-02-01', '2024-03-01'],
  ] as const)('%s', (preset, from, to) => {
    expect(presetRange(preset, now)).toEqual([from, to])
  })
})

describe('the count above the list', () => {
  it('is exact or marked as an estimate', () => {
    expect(countText(1, false)).toBe('1 study')
    expect(countText(0, false)).toBe('0 studies')
    expect(countText(1234, false)).toBe('1,234 studies')
    expect(countText(1000000, true)).toBe('≈ 1,000,000 studies (estimate)')
  })
})
