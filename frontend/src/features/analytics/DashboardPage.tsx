import { useCallback, useMemo, useState } from 'react'

import {
  getIngestRate,
  getModalities,
  getStudiesOverTime,
  getSummary,
  getTopInstitutions,
  getTopReferring,
} from '../../api/analytics'
import type { Interval, NameCount } from '../../api/types'
import { formatBytes, formatCount, formatPersonName, isoDay } from '../../components/format'
import { ErrorState, Loading } from '../../components/States'
import { useApi } from '../../hooks/useApi'
import { useDocumentTitle } from '../../hooks/useDocumentTitle'
import { useLiveEvents } from '../../hooks/useLiveEvents'
import { ChartCanvas } from './ChartCanvas'
import { PALETTE } from './palette'

const RANGES: { id: string; label: string; days: number }[] = [
  { id: '30d', label: 'Last 30 days', days: 30 },
  { id: '90d', label: 'Last 90 days', days: 90 },
  { id: '1y', label: 'Last 12 months', days: 365 },
  { id: '5y', label: 'Last 5 years', days: 5 * 365 + 1 },
  { id: '10y', label: 'Last 10 years', days: 10 * 365 + 2 },
]

const COUNT_OPTIONS = {
  plugins: { legend: { display: false } },
  scales: { y: { beginAtZero: true, ticks: { precision: 0 } } },
}
const STORAGE_OPTIONS = {
  plugins: { legend: { display: false } },
  scales: { y: { beginAtZero: true, title: { display: true, text: 'MB' } } },
}
const LINE_OPTIONS = { scales: { y: { beginAtZero: true, ticks: { precision: 0 } } } }

function rangeDates(days: number): [string, string] {
  const now = new Date()
  const from = new Date(now.getFullYear(), now.getMonth(), now.getDate() - days + 1)
  return [isoDay(from), isoDay(now)]
}

export default function DashboardPage() {
  useDocumentTitle('Dashboard')
  const [interval, setBucket] = useState<Interval>('month')
  const [range, setRange] = useState('5y')
  const [custom, setCustom] = useState<[string, string]>(() => rangeDates(365))
  const days = RANGES.find((r) => r.id === range)?.days ?? 30
  const [dateFrom, dateTo] = range === 'custom' ? custom : rangeDates(days)

  const summary = useApi((s) => getSummary(s), 'summary')
  const modalities = useApi((s) => getModalities(s), 'modalities')
  const overTime = useApi(
    (s) => getStudiesOverTime(interval, dateFrom, dateTo, s),
    `${interval}:${dateFrom}:${dateTo}`,
  )
  const ingest = useApi((s) => getIngestRate(60, s), 'ingest')
  const referring = useApi((s) => getTopReferring(10, s), 'referring')
  const institutions = useApi((s) => getTopInstitutions(10, s), 'institutions')
  const [updatedAt, setUpdatedAt] = useState<Date>()

  const live = useLiveEvents(
    useCallback(() => {
      for (const a of [summary, modalities, overTime, ingest, referring, institutions]) a.reload(true)
      setUpdatedAt(new Date())
    }, [summary, modalities, overTime, ingest, referring, institutions]),
  )

  const stats = modalities.data ?? []
  const totals = summary.data
  const labels = stats.map((m) => m.modality)
  const colors = stats.map((_, i) => PALETTE[i % PALETTE.length])

  const modalityChart = useMemo(
    () => ({ labels, datasets: [{ label: 'Studies', data: stats.map((m) => m.studies), backgroundColor: colors }] }),
    // eslint-disable-next-line react-hooks/exhaustive-deps
    [modalities.data],
  )
  const storageChart = useMemo(
    () => ({
      labels,
      datasets: [{ label: 'Storage (MB)', data: stats.map((m) => m.bytes / 1024 ** 2), backgroundColor: colors }],
    }),
    // eslint-disable-next-line react-hooks/exhaustive-deps
    [modalities.data],
  )
  const timeChart = useMemo(() => {
    const rows = overTime.data ?? []
    return {
      labels: rows.map((r) => r.start.slice(0, interval === 'month' ? 7 : 10)),
      datasets: [{ label: 'Studies', data: rows.map((r) => r.studies), backgroundColor: PALETTE[0] }],
    }
  }, [overTime.data, interval])
  const ingestChart = useMemo(() => {
    const rows = ingest.data ?? []
    return {
      labels: rows.map((r) => r.start.slice(11, 16)),
      datasets: [
        {
          label: 'Instances per minute',
          data: rows.map((r) => r.instances),
          borderColor: PALETTE[1],
          backgroundColor: PALETTE[1],
          pointRadius: 2,
        },
      ],
    }
  }, [ingest.data])

  return (
    <section className="page dashboard" aria-labelledby="dash-title">
      <div className="page-head">
        <h1 id="dash-title">Archive dashboard</h1>
        <span className={`live live-${live}`} title="Live updates from the archive">
          {live === 'open' ? 'Live' : live === 'connecting' ? 'Connecting…' : 'Offline'}
        </span>
        <span className="muted" aria-live="polite">
          {updatedAt ? `Updated ${updatedAt.toLocaleTimeString()}` : ''}
        </span>
      </div>

      <div className="tiles" aria-live="polite">
        <Tile label="Studies" value={formatCount(totals?.studies)} testId="total-studies" />
        <Tile label="Instances" value={formatCount(totals?.instances)} testId="total-instances" />
        <Tile label="Storage" value={formatBytes(totals?.bytes)} testId="total-bytes" />
      </div>

      <div className="cards">
        <Card title="Modality distribution" id="modality-card">
          {modalities.error ? (
            <ErrorState error={modalities.error} onRetry={() => modalities.reload()} />
          ) : !modalities.data ? (
            <Loading label="Loading modalities…" />
          ) : (
            <>
              <ChartCanvas type="doughnut" data={modalityChart} label="Studies per modality" height={220} />
              <table className="data-table" aria-label="Studies per modality" data-testid="modality-table">
                <thead>
                  <tr>
                    <th scope="col">Modality</th>
                    <th scope="col" className="num">
                      Studies
                    </th>
                    <th scope="col" className="num">
                      Instances
                    </th>
                    <th scope="col" className="num">
                      Storage
                    </th>
                  </tr>
                </thead>
                <tbody>
                  {stats.map((m) => (
                    <tr key={m.modality} data-modality={m.modality}>
                      <th scope="row">{m.modality}</th>
                      <td className="num" data-col="studies">
                        {formatCount(m.studies)}
                      </td>
                      <td className="num" data-col="instances">
                        {formatCount(m.instances)}
                      </td>
                      <td className="num" data-col="bytes">
                        {formatBytes(m.bytes)}
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </>
          )}
        </Card>

        <Card title="Storage per modality" id="storage-card">
          {modalities.data && (
            <ChartCanvas
              type="bar"
              data={storageChart}
              label="Storage per modality in megabytes"
              options={STORAGE_OPTIONS}
            />
          )}
        </Card>

        <Card title="Studies over time" id="time-card" wide>
          <div className="controls">
            <label htmlFor="dash-interval">Per</label>
            <select id="dash-interval" value={interval} onChange={(e) => setBucket(e.target.value as Interval)}>
              <option value="day">day</option>
              <option value="week">week</option>
              <option value="month">month</option>
            </select>
            <label htmlFor="dash-range">Period</label>
            <select id="dash-range" value={range} onChange={(e) => setRange(e.target.value)}>
              {RANGES.map((r) => (
                <option key={r.id} value={r.id}>
                  {r.label}
                </option>
              ))}
              <option value="custom">Custom dates</option>
            </select>
            {range === 'custom' && (
              <>
                <label htmlFor="dash-from">From</label>
                <input
                  id="dash-from"
                  type="date"
                  value={custom[0]}
                  max={custom[1]}
                  onChange={(e) => e.target.value && setCustom([e.target.value, custom[1]])}
                />
                <label htmlFor="dash-to">To</label>
                <input
                  id="dash-to"
                  type="date"
                  value={custom[1]}
                  min={custom[0]}
                  onChange={(e) => e.target.value && setCustom([custom[0], e.target.value])}
                />
              </>
            )}
          </div>
          {overTime.error ? (
            <ErrorState error={overTime.error} onRetry={() => overTime.reload()} />
          ) : (
            <ChartCanvas
              type="bar"
              data={timeChart}
              label={`Studies per ${interval}, ${dateFrom} to ${dateTo}`}
              options={COUNT_OPTIONS}
            />
          )}
        </Card>

        <Card title="Ingest rate (instances per minute, last hour, UTC)" id="ingest-card" wide>
          {ingest.error ? (
            <ErrorState error={ingest.error} onRetry={() => ingest.reload()} />
          ) : (
            <ChartCanvas
              type="line"
              data={ingestChart}
              label="Instances stored per minute, last hour"
              options={LINE_OPTIONS}
            />
          )}
        </Card>

        <Card title="Top referring physicians" id="referring-card">
          <Ranking state={referring} person />
        </Card>
        <Card title="Top institutions" id="institutions-card">
          <Ranking state={institutions} />
        </Card>
      </div>
    </section>
  )
}

function Tile({ label, value, testId }: { label: string; value: string; testId: string }) {
  return (
    <div className="tile">
      <span className="tile-label">{label}</span>
      <span className="tile-value" data-testid={testId}>
        {value}
      </span>
    </div>
  )
}

function Card({
  title,
  id,
  wide,
  children,
}: {
  title: string
  id: string
  wide?: boolean
  children: React.ReactNode
}) {
  return (
    <section className={`card${wide ? ' wide' : ''}`} aria-labelledby={`${id}-title`} id={id}>
      <h2 id={`${id}-title`}>{title}</h2>
      {children}
    </section>
  )
}

function Ranking({
  state,
  person,
}: {
  state: { data: NameCount[] | undefined; error: unknown; reload: (q?: boolean) => void }
  person?: boolean
}) {
  if (state.error) return <ErrorState error={state.error} onRetry={() => state.reload()} />
  if (!state.data) return <Loading label="Loading…" />
  if (state.data.length === 0) return <p className="muted">No data yet.</p>
  const max = Math.max(...state.data.map((r) => r.studies), 1)
  return (
    <ol className="ranking">
      {state.data.map((r) => (
        <li key={r.name}>
          <span className="rank-name">{person ? formatPersonName(r.name) : r.name || '—'}</span>
          <span className="rank-bar" style={{ width: `${(100 * r.studies) / max}%` }} aria-hidden="true" />
          <span className="rank-count">{formatCount(r.studies)}</span>
        </li>
      ))}
    </ol>
  )
}
