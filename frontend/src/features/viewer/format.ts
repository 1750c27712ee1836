/** Text for the viewer's overlays. */

/** DICOM PN "Family^Given^Middle^Prefix^Suffix" → "Family, Given Middle". */
export function personName(pn: string): string {
  if (!pn) return ''
  const [family = '', given = '', middle = ''] = pn.split('=')[0].split('^')
  const rest = [given, middle].filter(Boolean).join(' ')
  return rest ? `${family}, ${rest}` : family
}

/** DICOM DA "YYYYMMDD" → "YYYY-MM-DD". */
export function dicomDate(da: string): string {
  const m = /^(\d{4})(\d{2})(\d{2})$/.exec(da.trim())
  return m ? `${m[1]}-${m[2]}-${m[3]}` : da
}

/** DICOM TM "HHMMSS.frac" → "HH:MM". */
export function dicomTime(tm: string): string {
  const m = /^(\d{2})(\d{2})?/.exec(tm.trim())
  if (!m) return tm
  return m[2] ? `${m[1]}:${m[2]}` : m[1]
}

export function fixed(n: number | null | undefined, digits = 1): string {
  return n === null || n === undefined || !Number.isFinite(n) ? '' : n.toFixed(digits)
}
