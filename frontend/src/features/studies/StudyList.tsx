import { Link } from 'react-router'

import type { StudyRead } from '../../api/types'
import { formatCount, formatDate, formatPersonName, formatTime } from '../../components/format'
import { nextSort, sortState } from './studyQuery'

/** A column of the study list; `sort` is the API's sort key for it. */
interface Column {
  id: string
  label: string
  sort: string
  numeric?: boolean
}

const COLUMNS: Column[] = [
  { id: 'patient_name', label: 'Patient name', sort: 'patient_name' },
  { id: 'patient_id', label: 'MRN', sort: 'patient_id' },
  { id: 'patient_birth_date', label: 'Birth date / sex', sort: 'patient_birth_date' },
  { id: 'accession_number', label: 'Accession', sort: 'accession_number' },
  { id: 'study_date', label: 'Study date / time', sort: 'study_date' },
  { id: 'modalities', label: 'Modalities', sort: 'modalities' },
  { id: 'study_description', label: 'Description', sort: 'study_description' },
  { id: 'number_of_series', label: 'Series', sort: 'number_of_series', numeric: true },
  { id: 'number_of_instances', label: 'Instances', sort: 'number_of_instances', numeric: true },
]

interface Props {
  studies: StudyRead[]
  sort: string | undefined
  onSort: (sort: string) => void
  busy: boolean
  caption: string
}

export function StudyList({ studies, sort, onSort, busy, caption }: Props) {
  return (
    <div className="table-wrap">
      <table className="study-list" aria-busy={busy}>
        <caption className="visually-hidden">{caption}</caption>
        <thead>
          <tr>
            {COLUMNS.map((c) => {
              const state = sortState(sort, c.sort)
              return (
                <th key={c.id} scope="col" aria-sort={state} className={c.numeric ? 'num' : undefined}>
                  <button
                    type="button"
                    className="sort-button"
                    data-sort={c.sort}
                    onClick={() => onSort(nextSort(sort, c.sort))}
                  >
                    {c.label}
                    <span className="sort-icon" aria-hidden="true">
                      {state === 'ascending' ? '▲' : state === 'descending' ? '▼' : '↕'}
                    </span>
                  </button>
                </th>
              )
            })}
            <th scope="col">
              <span className="visually-hidden">Actions</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {studies.map((s) => (
            <StudyRow key={s.study_instance_uid} study={s} />
          ))}
        </tbody>
      </table>
    </div>
  )
}

export function StudyRow({ study: s }: { study: StudyRead }) {
  const studyPath = `/studies/${encodeURIComponent(s.study_instance_uid)}`
  return (
    <tr data-study-uid={s.study_instance_uid}>
      <th scope="row" data-col="patient_name">
        <Link to={studyPath}>{formatPersonName(s.patient_name)}</Link>
      </th>
      <td data-col="patient_id">{s.patient_id || '—'}</td>
      <td data-col="patient_birth_date">
        {formatDate(s.patient_birth_date)} {s.patient_sex ? <span className="muted">{s.patient_sex}</span> : null}
      </td>
      <td data-col="accession_number">{s.accession_number || '—'}</td>
      <td data-col="study_date">
        {formatDate(s.study_date)} <span className="muted">{formatTime(s.study_time)}</span>
      </td>
      <td data-col="modalities">{s.modalities?.join(', ') || '—'}</td>
      <td data-col="study_description">{s.study_description || '—'}</td>
      <td data-col="number_of_series" className="num">
        {formatCount(s.number_of_series)}
      </td>
      <td data-col="number_of_instances" className="num">
        {formatCount(s.number_of_instances)}
      </td>
      <td>
        <Link
          to={`/viewer/${encodeURIComponent(s.study_instance_uid)}`}
          aria-label={`Open viewer for ${formatPersonName(s.patient_name)}, ${formatDate(s.study_date)}`}
        >
          Open viewer
        </Link>
      </td>
    </tr>
  )
}
