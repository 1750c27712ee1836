/** The measurements drawn in this viewer (length, angle, rectangle and ellipse ROI), with their values. */
import { eventTarget } from '@cornerstonejs/core'
import { useEffect, useState } from 'react'
import { MEASUREMENT_TOOLS, engine, type ViewerTools } from './cornerstone'
import { measurementLines } from './format'

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

function collect(tools: ViewerTools): Measurement[] {
  const out: Measurement[] = []
  for (const a of tools.measurements.all()) {
    const tool = a.metadata?.toolName ?? ''
    if (!MEASUREMENT_TOOLS.includes(tool) || !a.annotationUID) continue
    const cached = (a.data as { cachedStats?: Record<string, Stats> }).cachedStats ?? {}
    const stats = Object.values(cached)[0]
    out.push({ uid: a.annotationUID, tool, label: LABELS[tool] ?? tool, lines: measurementLines(tool, stats) })
  }
  return out
}

/** The list; empty until the tools (which hold the annotations) are loaded. */
export default function MeasurementList({ tools }: { tools: ViewerTools | null }) {
  const [items, setItems] = useState<Measurement[]>([])

  useEffect(() => {
    if (!tools) return
    const refresh = () => setItems(collect(tools))
    const events = tools.measurements.events
    for (const e of events) eventTarget.addEventListener(e, refresh)
    refresh()
    return () => {
      for (const e of events) eventTarget.removeEventListener(e, refresh)
    }
  }, [tools])

  const remove = (uid: string) => {
    if (!tools) return
    tools.measurements.remove(uid)
    engine()?.render()
    setItems(collect(tools))
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
