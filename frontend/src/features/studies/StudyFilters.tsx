import { useId, useState } from 'react'

import type { StudyQuery } from '../../api/studies'
import { DATE_PRESETS, type DatePreset, MODALITIES, presetRange, type TextFilter } from './studyQuery'

interface Props {
  initial: StudyQuery
  onApply: (filters: StudyQuery) => void
}

const TEXT_FIELDS: { key: TextFilter; label: string; hint?: string }[] = [
  { key: 'mrn', label: 'MRN' },
  { key: 'accession', label: 'Accession' },
  { key: 'name', label: 'Patient name', hint: 'Wildcards * and ?; case and accents ignored' },
  { key: 'description', label: 'Description' },
  { key: 'referring', label: 'Referring physician' },
]

/** The filter form. Text filters apply on submit (Enter or "Search"); presets apply at once. */
export function StudyFilters({ initial, onApply }: Props) {
  const [draft, setDraft] = useState<StudyQuery>(initial)
  const id = useId()
  const set = (key: TextFilter, value: string) => setDraft((d) => ({ ...d, [key]: value }))
  const toggleModality = (m: string) =>
    setDraft((d) => {
      const cur = d.modality ?? []
      return { ...d, modality: cur.includes(m) ? cur.filter((x) => x !== m) : [...cur, m] }
    })
  const applyPreset = (p: DatePreset) => {
    const [from, to] = presetRange(p)
    const next = { ...draft, date_from: from, date_to: to }
    setDraft(next)
    onApply(next)
  }
  const clear = () => {
    setDraft({})
    onApply({})
  }

  return (
    <form
      className="filters"
      role="search"
      aria-label="Study filters"
      onSubmit={(e) => {
        e.preventDefault()
        onApply(draft)
      }}
    >
      <div className="filter-grid">
        {TEXT_FIELDS.map((f) => (
          <div className="field" key={f.key}>
            <label htmlFor={`${id}-${f.key}`}>{f.label}</label>
            <input
              id={`${id}-${f.key}`}
              name={f.key}
              type="search"
              value={draft[f.key] ?? ''}
              onChange={(e) => set(f.key, e.target.value)}
              aria-describedby={f.hint ? `${id}-${f.key}-hint` : undefined}
              autoComplete="off"
            />
            {f.hint && (
              <small id={`${id}-${f.key}-hint`} className="hint">
                {f.hint}
              </small>
            )}
          </div>
        ))}
        <div className="field">
          <label htmlFor={`${id}-date_from`}>Study date from</label>
          <input
            id={`${id}-date_from`}
            name="date_from"
            type="date"
            value={draft.date_from ?? ''}
            onChange={(e) => set('date_from', e.target.value)}
          />
        </div>
        <div className="field">
          <label htmlFor={`${id}-date_to`}>Study date to</label>
          <input
            id={`${id}-date_to`}
            name="date_to"
            type="date"
            value={draft.date_to ?? ''}
            onChange={(e) => set('date_to', e.target.value)}
          />
        </div>
      </div>
      <div className="filter-row">
        <div className="presets" role="group" aria-label="Study date presets">
          {DATE_PRESETS.map((p) => (
            <button type="button" key={p.id} onClick={() => applyPreset(p.id)}>
              {p.label}
            </button>
          ))}
        </div>
        <fieldset className="modalities">
          <legend>Modality</legend>
          {MODALITIES.map((m) => (
            <label key={m} className="chip">
              <input
                type="checkbox"
                name="modality"
                value={m}
                checked={draft.modality?.includes(m) ?? false}
                onChange={() => toggleModality(m)}
              />
              {m}
            </label>
          ))}
        </fieldset>
        <div className="actions">
          <button type="submit" className="primary">
            Search
          </button>
          <button type="button" onClick={clear}>
            Clear
          </button>
        </div>
      </div>
    </form>
  )
}
