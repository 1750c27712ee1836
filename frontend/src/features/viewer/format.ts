/** Text for the viewer's overlays and measurement list (pure functions). */

export { formatDate, formatPersonName, formatTime } from '../../components/format'

/** A number with fixed decimals, or '' when there is none. */
export function fixed(n: number | null | undefined, digits = 1): string {
  return n === null || n === undefined || !Number.isFinite(n) ? '' : n.toFixed(digits)
}

type Stats = Record<string, unknown>

const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v)

/**
 * The lines shown for one measurement's statistics, in the units Cornerstone3D computed them in: mm from Pixel
 * Spacing (px when the image has none), mm², and HU for CT (modality units after the Modality LUT).
 */
export function measurementLines(tool: string, stats: Stats | undefined): string[] {
  if (!stats) return []
  const unit = (k: string, d = '') => (typeof stats[k] === 'string' ? String(stats[k]) : d)
  if (tool === 'Length' && isNum(stats.length)) return [`${stats.length.toFixed(2)} ${unit('unit', 'mm')}`]
  if (tool === 'Angle' && isNum(stats.angle)) return [`${stats.angle.toFixed(1)}°`]
  const lines: string[] = []
  if (isNum(stats.area)) lines.push(`Area ${stats.area.toFixed(1)} ${unit('areaUnit', 'mm²')}`)
  const mu = unit('modalityUnit')
  if (isNum(stats.mean)) lines.push(`Mean ${stats.mean.toFixed(1)} ${mu}`.trim())
  if (isNum(stats.stdDev)) lines.push(`SD ${stats.stdDev.toFixed(1)} ${mu}`.trim())
  if (isNum(stats.min) && isNum(stats.max)) {
    lines.push(`Min ${stats.min.toFixed(0)} / Max ${stats.max.toFixed(0)} ${mu}`.trim())
  }
  return lines
}
