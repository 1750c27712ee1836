/** The measurements drawn in this viewer (length, angle, rectangle and ellipse ROI), with their values. */
import { eventTarget } from '@cornerstonejs/core'
import { annotation, Enums as toolEnums } from '@cornerstonejs/tools'
import { useEffect, useState } from 'react'
import { MEASUREMENT_TOOLS, engine } from './cornerstone'
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
