import { Link, useParams } from 'react-router'

import { getStudy } from '../../api/studies'
import { seriesThumbnailUrl } from '../../api/thumbnails'
import type { SeriesRead } from '../../api/types'
import { formatCount, formatDate, formatPersonName, formatSex, formatTime } from '../../components/format'
import { ErrorState, Loading } from '../../components/States'
import { useApi } from '../../hooks/useApi'
import { useDocumentTitle } from '../../hooks/useDocumentTitle'

export default function StudyPage() {
  const { studyInstanceUID = '' } = useParams()
  const { data: detail, error, reload } = useApi((signal) => getStudy(studyInstanceUID, signal), studyInstanceUID)
  const viewerPath = `/viewer/${encodeURIComponent(studyInstanceUID)}`
  useDocumentTitle(detail ? `${formatPersonName(detail.study.patient_name)}, ${formatDate(detail.study.study_date)}` : 'Study')

  if (error) return <ErrorState error={error} onRetry={() => reload()} />
  if (!detail || detail.study.study_instance_uid !== studyInstanceUID) return <Loading label="Loading study…" />
  const study = detail.study

  return (
    <article className="page study-page" aria-labelledby="study-title">
      <p className="breadcrumb">
        <Link to="/">← Studies</Link>
      </p>
      <header className="study-header">
        <div>
          <h1 id="study-title">{formatPersonName(study.patient_name)}</h1>
          <dl className="facts">
            <Fact label="MRN" value={study.patient_id} />
            <Fact label="Birth date" value={formatDate(study.patient_birth_date)} />
            <Fact label="Sex" value={formatSex(study.patient_sex)} />
          </dl>
        </div>
        <div>
          <h2 className="study-title">{study.study_description || 'Study'}</h2>
          <dl className="facts">
            <Fact
              label="Study date"
              value={`${formatDate(study.study_date)} ${formatTime(study.study_time)}`.trim()}
            />
            <Fact label="Accession" value={study.accession_number} />
            <Fact label="Study ID" value={detail.study_id} />
            <Fact label="Modalities" value={study.modalities?.join(', ')} />
            <Fact label="Referring physician" value={formatPersonName(study.referring_physician_name)} />
            <Fact label="Institution" value={study.institution_name} />
            <Fact label="Series" value={formatCount(study.number_of_series)} />
            <Fact label="Instances" value={formatCount(study.number_of_instances)} />
          </dl>
        </div>
        <Link className="button primary" to={viewerPath}>
          Open viewer
        </Link>
      </header>

      <h2 id="series-title">Series</h2>
      <ul className="series-grid" aria-labelledby="series-title">
        {detail.series.map((s) => (
          <SeriesCard key={s.series_instance_uid} studyUid={study.study_instance_uid} series={s} />
        ))}
      </ul>
    </article>
  )
}

function Fact({ label, value }: { label: string; value: string | null | undefined }) {
  return (
    <div className="fact">
      <dt>{label}</dt>
      <dd>{value || '—'}</dd>
    </div>
  )
}

function SeriesCard({ studyUid, series: s }: { studyUid: string; series: SeriesRead }) {
  const title = `Series ${s.series_number ?? '?'}${s.modality ? ` ${s.modality}` : ''}`
  const to = `/viewer/${encodeURIComponent(studyUid)}?series=${encodeURIComponent(s.series_instance_uid)}`
  return (
    <li className="series-card" data-series-uid={s.series_instance_uid}>
      <Link to={to} className="thumb-link" tabIndex={-1} aria-hidden="true">
        <img
          src={seriesThumbnailUrl(studyUid, s.series_instance_uid)}
          alt=""
          loading="lazy"
          width={128}
          height={128}
        />
      </Link>
      <div className="series-info">
        <strong>{title}</strong>
        <span>{s.series_description || 'No description'}</span>
        <span className="muted">
          {formatCount(s.number_of_instances)} {s.number_of_instances === 1 ? 'instance' : 'instances'}
        </span>
        <Link to={to} aria-label={`Open ${title} in the viewer`}>
          Open viewer
        </Link>
      </div>
    </li>
  )
}
