/** The viewer's toolbar: layout, mouse tool, window presets, view operations and cine. */
import type { PrimaryTool } from './cornerstone'
import { LAYOUTS, type Layout } from './layout'
import { CT_PRESETS } from './viewportActions'


export type ViewAction =
  | 'invert'
  | 'zoomIn'
  | 'zoomOut'
  | 'fit'
  | 'rotate'
  | 'flipH'
  | 'flipV'
  | 'reset'
  | 'defaultWindow'

interface Props {
  layout: Layout
  tool: PrimaryTool
  playing: boolean
  fps: number
  onLayout: (layout: Layout) => void
  onTool: (tool: PrimaryTool) => void
  onPreset: (center: number, width: number) => void
  onAction: (action: ViewAction) => void
  onTogglePlay: () => void
  onFps: (fps: number) => void
}

const TOOLS: { id: PrimaryTool; label: string; title: string }[] = [
  { id: 'windowLevel', label: 'W/L', title: 'Window/level: drag (left button)' },
  { id: 'pan', label: 'Pan', title: 'Pan: drag (also the middle button)' },
  { id: 'zoom', label: 'Zoom', title: 'Zoom: drag (also the right button)' },
  { id: 'length', label: 'Length', title: 'Measure a length' },
  { id: 'angle', label: 'Angle', title: 'Measure an angle' },
  { id: 'rectangle', label: 'Rect ROI', title: 'Rectangle ROI: area, mean and SD' },
  { id: 'ellipse', label: 'Ellipse ROI', title: 'Ellipse ROI: area, mean and SD' },
]

const ACTIONS: { id: ViewAction; label: string; title: string }[] = [
  { id: 'invert', label: 'Invert', title: 'Invert greyscale' },
  { id: 'zoomIn', label: 'Zoom +', title: 'Zoom in' },
  { id: 'zoomOut', label: 'Zoom −', title: 'Zoom out' },
  { id: 'fit', label: 'Fit', title: 'Fit the image to the viewport' },
  { id: 'rotate', label: 'Rotate', title: 'Rotate 90° clockwise' },
  { id: 'flipH', label: 'Flip H', title: 'Flip horizontally' },
  { id: 'flipV', label: 'Flip V', title: 'Flip vertically' },
  { id: 'reset', label: 'Reset', title: 'Reset zoom, pan, rotation, flips and window' },
]

export default function Toolbar(props: Props) {
  const { layout, tool, playing, fps, onLayout, onTool, onPreset, onAction, onTogglePlay, onFps } = props
  return (
    <div className="viewer-toolbar" role="toolbar" aria-label="Viewer tools">
      <div className="tb-group" role="group" aria-label="Layout">
        {(Object.keys(LAYOUTS) as Layout[]).map((l) => (
          <button
            key={l}
            type="button"
            aria-pressed={layout === l}
            data-testid={`layout-${l}`}
            onClick={() => onLayout(l)}
          >
            {l.replace('x', '×')}
          </button>
        ))}
      </div>
      <div className="tb-group" role="group" aria-label="Mouse tool">
        {TOOLS.map((t) => (
          <button
            key={t.id}
            type="button"
            title={t.title}
            aria-pressed={tool === t.id}
            data-testid={`tool-${t.id}`}
            onClick={() => onTool(t.id)}
          >
            {t.label}
          </button>
        ))}
      </div>
      <div className="tb-group" role="group" aria-label="Window presets">
        <button
          type="button"
          data-testid="preset-default"
          title="Window from the file"
          onClick={() => onAction('defaultWindow')}
        >
          Default
        </button>
        {CT_PRESETS.map((p) => (
          <button
            key={p.id}
            type="button"
            data-testid={`preset-${p.id}`}
            title={`CT ${p.label}: W ${p.width} L ${p.center}`}
            onClick={() => onPreset(p.center, p.width)}
          >
            {p.label}
          </button>
        ))}
      </div>
      <div className="tb-group" role="group" aria-label="View">
        {ACTIONS.map((a) => (
          <button key={a.id} type="button" title={a.title} data-testid={`action-${a.id}`} onClick={() => onAction(a.id)}>
            {a.label}
          </button>
        ))}
      </div>
      <div className="tb-group" role="group" aria-label="Cine">
        <button type="button" aria-pressed={playing} data-testid="cine-toggle" onClick={onTogglePlay}>
          {playing ? 'Stop' : 'Play'}
        </button>
        <label className="tb-fps">
          <input
            type="number"
            min={1}
            max={120}
            value={fps}
            data-testid="cine-fps"
            onChange={(e) => {
              const v = Number(e.target.value)
              if (Number.isFinite(v) && v >= 1 && v <= 120) onFps(Math.round(v))
            }}
          />{' '}
          fps
        </label>
      </div>
    </div>
  )
}
