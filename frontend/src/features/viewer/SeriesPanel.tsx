/** The study's series as thumbnails: click to show one in the active viewport, or drag it onto a viewport. */
import { seriesThumbnailUrl, type SeriesSummary } from '../../api/dicomweb'
import { SERIES_DRAG_TYPE } from './ViewportPane'

interface Props {
  series: SeriesSummary[]
  shown: ReadonlySet<string>
  onPick: (seriesUID: string) => void
}

export default function SeriesPanel({ series, shown, onPick }: Props) {
  return (
    <nav className="viewer-series" aria-label="Series">
      <ul>
        {series.map((s) => (
          <li key={s.seriesInstanceUID}>
            <button
              type="button"
              draggable
              className={shown.has(s.seriesInstanceUID) ? 'is-shown' : ''}
              data-testid="series-item"
              data-series={s.seriesInstanceUID}
              title="Click to show in the active viewport, or drag onto a viewport"
              onClick={() => onPick(s.seriesInstanceUID)}
              onDragStart={(e) => {
                e.dataTransfer.setData(SERIES_DRAG_TYPE, s.seriesInstanceUID)
                e.dataTransfer.setData('text/plain', s.seriesInstanceUID)
                e.dataTransfer.effectAllowed = 'copy'
              }}
            >
              <img
                src={seriesThumbnailUrl(s.studyInstanceUID, s.seriesInstanceUID)}
                alt=""
                width={96}
                height={96}
                loading="lazy"
                draggable={false}
              />
              <span className="s-title">
                {s.modality} {s.seriesNumber ?? ''}
              </span>
              <span className="s-desc">{s.description || '(no description)'}</span>
              <span className="s-count">
                {s.numberOfInstances ?? '?'} image{s.numberOfInstances === 1 ? '' : 's'}
              </span>
            </button>
          </li>
        ))}
      </ul>
    </nav>
  )
}
