/** The measurements drawn in this viewer (length, angle, rectangle and ellipse ROI), with their values. */
import { eventTarget } from '@cornerstonejs/core'
import { annotation, Enums as toolEnums } from '@cornerstonejs/tools'
import { useEffect, useState } from 'react'
import { MEASUREMENT_TOOLS, engine } from './cornerstone'

export interface Measurement {
  uid: string
  tool: string
  label: string
  lines: string[]
}

const LABELS: Record<string, string> = {
  Length: 'Length',
  Angle: 'Angle',
  RectangleROI: 'Rectangle ROI',
  EllipticalROI: 'Ellipse ROI',
}

type Stats = Record<string, unknown>

const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v)

/** The lines shown for one annotation's statistics (in the units Cornerstone computed: mm, mm², HU …). */
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

function collect(): Measurement[] {
  const out: Measurement[] = []
  for (const a of annotation.state.getAllAnnotations()) {
    const tool = a.metadata?.toolName ?? ''
    if (!MEASUREMENT_TOOLS.includes(tool) || !a.annotationUID) continue
    const cached = (a.data as { cachedStats?: Record<string, Stats> }).cachedStats ?? {}
    const stats = Object.values(cached)[0]
    out.push({ uid: a.annotationUID, tool, label: LABELS[tool] ?? tool, lines: measurementLines(tool, stats) })
  }
  return out
}

export default function MeasurementList() {
  const [items, setItems] = useState<Measurement[]>([])

  useEffect(() => {
    const refresh = () => setItems(collect())
    const events = [
      toolEnums.Events.ANNOTATION_COMPLETED,
      toolEnums.Events.ANNOTATION_MODIFIED,
      toolEnums.Events.ANNOTATION_REMOVED,
    ]
    for (const e of events) eventTarget.addEventListener(e, refresh)
    refresh()
    return () => {
      for (const e of events) eventTarget.removeEventListener(e, refresh)
    }
  }, [])

  const remove = (uid: string) => {
    annotation.state.removeAnnotation(uid)
    engine()?.render()
    setItems(collect())
  }

  return (
    <section className="viewer-measurements" aria-label="Measurements">
      <h2>Measurements</h2>
      {items.length === 0 && <p className="viewer-muted">None yet: pick a measuring tool and draw on an image.</p>}
      <ul>
        {items.map((m) => (
          <li key={m.uid} data-testid="measurement" data-tool={m.tool}>
            <span className="m-label">{m.label}</span>
            <span className="m-value">{m.lines.join(' · ') || '…'}</span>
            <button type="button" onClick={() => remove(m.uid)} aria-label={`Delete ${m.label}`}>
              ×
            </button>
          </li>
        ))}
      </ul>
    </section>
  )
}
