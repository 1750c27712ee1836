import { useCallback, useMemo } from 'react'
import { useSearchParams } from 'react-router'

import { searchStudies, type StudyQuery } from '../../api/studies'
import { Empty, ErrorState, Loading } from '../../components/States'
import { useApi } from '../../hooks/useApi'
import { useDocumentTitle } from '../../hooks/useDocumentTitle'
import { useLiveEvents } from '../../hooks/useLiveEvents'
import { StudyFilters } from './StudyFilters'
import { StudyList } from './StudyList'
import { countText, DEFAULT_LIMIT, filterKey, PAGE_SIZES, parseQuery, toSearchParams } from './studyQuery'

export default function StudyListPage() {
  useDocumentTitle('Studies')
  const [searchParams, setSearchParams] = useSearchParams()
  const query = useMemo(() => parseQuery(searchParams), [searchParams])
  const key = searchParams.toString()
  const { data, error, loading, reload } = useApi((signal) => searchStudies(query, signal), key)

  // Live: new studies change the counts (and maybe the rows); refetch this page quietly.
  const live = useLiveEvents(useCallback(() => reload(true), [reload]))

  const go = (q: StudyQuery) => setSearchParams(toSearchParams(q))
  const applyFilters = (f: StudyQuery) => go({ ...f, sort: query.sort, limit: query.limit })
  const count = data ? countText(data.total, data.total_is_estimate) : ''

  return (
    <section className="page study-list-page" aria-labelledby="studies-title">
      <div className="page-head">
        <h1 id="studies-title">Studies</h1>
        <span className={`live live-${live}`} title="Live updates from the archive">
          {live === 'open' ? 'Live' : live === 'connecting' ? 'Connecting…' : 'Offline'}
        </span>
      </div>
      <StudyFilters key={filterKey(query)} initial={query} onApply={applyFilters} />

      <div className="list-bar">
        <p className="count" aria-live="polite" aria-atomic="true" data-testid="study-count">
          {count}
          {data && loading ? ' — updating…' : ''}
        </p>
        <label className="page-size">
          Rows per page{' '}
          <select
            value={query.limit}
            onChange={(e) => go({ ...query, cursor: undefined, limit: Number(e.target.value) })}
          >
            {[...new Set([...PAGE_SIZES, query.limit ?? DEFAULT_LIMIT])]
              .sort((a, b) => a - b)
              .map((n) => (
                <option key={n} value={n}>
                  {n}
                </option>
              ))}
          </select>
        </label>
      </div>

      {error ? (
        <ErrorState error={error} onRetry={() => reload()} />
      ) : !data ? (
        <Loading label="Loading studies…" />
      ) : data.items.length === 0 ? (
        <Empty>No studies match these filters.</Empty>
      ) : (
        <StudyList
          studies={data.items}
          sort={query.sort}
          onSort={(sort) => go({ ...query, sort, cursor: undefined })}
          busy={loading}
          caption={`Studies, ${count}`}
        />
      )}

      {data && (data.prev_cursor || data.next_cursor) && (
        <nav className="pager" aria-label="Pages">
          <button
            type="button"
            disabled={!data.prev_cursor}
            onClick={() => go({ ...query, cursor: data.prev_cursor ?? undefined })}
          >
            ← Previous
          </button>
          <button
            type="button"
            disabled={!data.next_cursor}
            onClick={() => go({ ...query, cursor: data.next_cursor ?? undefined })}
          >
            Next →
          </button>
        </nav>
      )}
    </section>
  )
}
