/** Display helpers for DICOM values (pure functions). */

/** "Doe^John^^Dr" -> "Doe, John"; "" or null -> "—". PS3.5 6.2 person name, alphabetic group only. */
export function formatPersonName(value: string | null | undefined): string {
  if (!value) return '—'
  const alphabetic = value.split('=')[0]
  const [family = '', given = '', middle = ''] = alphabetic.split('^')
  const rest = [given, middle].filter(Boolean).join(' ')
  return family && rest ? `${family}, ${rest}` : family || rest || '—'
}

/** "20240115" or "2024-01-15" -> "2024-01-15". */
export function formatDate(value: string | null | undefined): string {
  if (!value) return '—'
  const m = /^(\d{4})-?(\d{2})-?(\d{2})/.exec(value)
  return m ? `${m[1]}-${m[2]}-${m[3]}` : value
}

/** "101500.123" or "10:15:00" -> "10:15". */
export function formatTime(value: string | null | undefined): string {
  if (!value) return ''
  const m = /^(\d{2}):?(\d{2})/.exec(value)
  return m ? `${m[1]}:${m[2]}` : value
}

export function formatCount(n: number | null | undefined): string {
  return n === null || n === undefined ? '—' : n.toLocaleString('en-US')
}

export function formatBytes(n: number | null | undefined): string {
  if (n === null || n === undefined) return '—'
  const units = ['B', 'KB', 'MB', 'GB', 'TB', 'PB']
  let v = n
  let i = 0
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024
    i++
  }
  return `${v.toFixed(i === 0 || v >= 100 ? 0 : 1)} ${units[i]}`
}

export function formatSex(value: string | null | undefined): string {
  return ({ M: 'Male', F: 'Female', O: 'Other' } as Record<string, string>)[value ?? ''] ?? (value || '—')
}

/** A local calendar date as YYYY-MM-DD (not UTC: "today" is the user's today). */
export function isoDay(d: Date): string {
  const p = (n: number) => String(n).padStart(2, '0')
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}`
}
