import { describe, expect, it } from 'vitest'

import { formatBytes, formatCount, formatDate, formatPersonName, formatSex, formatTime, isoDay } from './format'

describe('DICOM value formatting', () => {
  it('person names (PS3.5 6.2): family, given middle; alphabetic group only', () => {
    expect(formatPersonName('Doe^John')).toBe('Doe, John')
    expect(formatPersonName('Doe^John^Q^Dr')).toBe('Doe, John Q')
    expect(formatPersonName('Yamada^Tarou=山田^太郎')).toBe('Yamada, Tarou')
    expect(formatPersonName('Müller')).toBe('Müller')
    expect(formatPersonName('')).toBe('—')
    expect(formatPersonName(null)).toBe('—')
  })

  it('dates and times from DA/TM or ISO', () => {
    expect(formatDate('20240115')).toBe('2024-01-15')
    expect(formatDate('2024-01-15')).toBe('2024-01-15')
    expect(formatDate(null)).toBe('—')
    expect(formatTime('101500.123')).toBe('10:15')
    expect(formatTime('10:15:00')).toBe('10:15')
    expect(formatTime(null)).toBe('')
    expect(isoDay(new Date(2024, 0, 5))).toBe('2024-01-05')
  })

  it('counts, bytes and sex', () => {
    expect(formatCount(1234567)).toBe('1,234,567')
    expect(formatCount(undefined)).toBe('—')
    expect(formatBytes(512)).toBe('512 B')
    expect(formatBytes(1536)).toBe('1.5 KB')
    expect(formatBytes(438146174)).toBe('418 MB')
    expect(formatSex('F')).toBe('Female')
    expect(formatSex('')).toBe('—')
  })
})
