/**
 * The DICOM viewer at /viewer/{StudyInstanceUID}[?series={SeriesInstanceUID}]: Cornerstone3D stack viewports over
 * the archive's WADO-RS, a series panel, layouts, tools, presets, cine and measurements.
 */
import { useCallback, useEffect, useLayoutEffect, useMemo, useRef, useState } from 'react'
import { Link, useParams, useSearchParams } from 'react-router'
import type { SeriesSummary } from '../../api/dicomweb'
import {
  MAX_VIEWPORTS,
  createViewerEngine,
  initCornerstone,
  loadTools,
  type PrimaryTool,
  type ViewerTools,
} from './cornerstone'
import MeasurementList from './MeasurementList'
import { studySeriesOnce, takeStudySeriesNow } from './prefetch'
import { loadSeries } from './seriesStore'
import SeriesPanel from './SeriesPanel'
import { LAYOUTS, type Layout } from './layout'
import Toolbar, { type ViewAction } from './Toolbar'
import ViewportPane from './ViewportPane'
import * as actions from './viewportActions'
import './viewer.css'

type Assignments = (string | null)[]

function useStudySeries(studyUID: string) {
  // When the series fetched ahead (prefetch.ts) have arrived already, the page starts with them: its viewports
  // can ask for their first image in its first render.
  const [initial] = useState(() => ({ studyUID, series: takeStudySeriesNow(studyUID) }))
  const [series, setSeries] = useState<SeriesSummary[] | null>(initial.series)
  const [error, setError] = useState<string | null>(null)
  const started = useRef(false)
  useEffect(() => {
    const first = !started.current
    started.current = true
    if (first && initial.series && initial.studyUID === studyUID) return
    const ctrl = new AbortController()
    setSeries(null)
    setError(null)
    // The answer fetched ahead while this chunk loaded (prefetch.ts), else a new query.
    studySeriesOnce(studyUID, ctrl.signal)
      .then(setSeries)
      .catch((e: unknown) => {
        if (ctrl.signal.aborted) return
        setError(e instanceof Error ? e.message : String(e))
      })
    return () => ctrl.abort()
  }, [studyUID, initial])
  return { series, error }
}

/** Which series each viewport shows first: the one in the URL, else the first with images; then the next ones. */
function firstAssignments(series: SeriesSummary[], requestedSeries: string | null): Assignments {
  const ordered = [...series]
  const wanted = ordered.findIndex((s) => s.seriesInstanceUID === requestedSeries)
  if (wanted > 0) ordered.unshift(...ordered.splice(wanted, 1))
  const next: Assignments = Array(MAX_VIEWPORTS).fill(null)
  for (let i = 0; i < MAX_VIEWPORTS; i++) next[i] = ordered[i]?.seriesInstanceUID ?? null
  return next
}

/**
 * Cornerstone3D initialised and a rendering engine for this page. A layout effect: the viewports that then mount
 * enable their elements and ask for their first image in the same task, not a frame or two later.
 */
function useViewerEngine() {
  const [ready, setReady] = useState(false)
  const [error, setError] = useState<string | null>(null)
  useLayoutEffect(() => {
    let teardown: (() => void) | null = null
    try {
      initCornerstone()
      teardown = createViewerEngine()
      performance.mark?.('viewer:engine')
      setReady(true)
    } catch (e) {
      setError(`The viewer could not start: ${e instanceof Error ? e.message : e}`)
    }
    return () => {
      setReady(false)
      teardown?.()
    }
  }, [])
  return { ready, error }
}

/** How long the page waits for a first image before it loads its tools anyway (an empty or failing study). */
const TOOLS_FALLBACK_MS = 1500

/**
 * The mouse tools, measurements, cine and stack prefetch (tools.ts, a chunk of their own): loaded once the first
 * image is shown (`imageShown`), or after TOOLS_FALLBACK_MS, so they never delay that image; then the page's tool
 * group is created.
 */
function useViewerTools(ready: boolean) {
  const [wanted, setWanted] = useState(false)
  const [tools, setTools] = useState<ViewerTools | null>(null)
  const [error, setError] = useState<string | null>(null)
  const imageShown = useCallback(() => setWanted(true), [])
  useEffect(() => {
    if (!ready) return
    const timer = setTimeout(() => setWanted(true), TOOLS_FALLBACK_MS)
    return () => clearTimeout(timer)
  }, [ready])
  useEffect(() => {
    if (!ready || !wanted) return
    let cancelled = false
    loadTools()
      .then((t) => {
        if (cancelled) return
        t.createToolGroup()
        setTools(t)
      })
      .catch((e: unknown) => {
        if (!cancelled) setError(`The viewer's tools could not be loaded: ${e instanceof Error ? e.message : e}`)
      })
    return () => {
      cancelled = true
      setTools(null)
    }
  }, [ready, wanted])
  return { tools, imageShown, error }
}

/** Height from the page's top edge to the bottom of the window, so the viewer fills the screen under the header. */
function useFillHeight() {
  const ref = useRef<HTMLDivElement>(null)
  const [height, setHeight] = useState<number | undefined>(undefined)
  useLayoutEffect(() => {
    const measure = () => {
      const top = ref.current?.getBoundingClientRect().top ?? 0
      setHeight(Math.max(320, window.innerHeight - top - window.scrollY))
    }
    measure()
    window.addEventListener('resize', measure)
    return () => window.removeEventListener('resize', measure)
  }, [])
  return { ref, height }
}

export default function ViewerPage() {
  const { studyInstanceUID = '' } = useParams()
  const [params, setParams] = useSearchParams()
  const requestedSeries = params.get('series')
  const { series, error: seriesError } = useStudySeries(studyInstanceUID)
  const { ready, error: engineError } = useViewerEngine()
  const { tools, imageShown, error: toolsError } = useViewerTools(ready)
  const { ref: pageRef, height } = useFillHeight()

  const [layout, setLayout] = useState<Layout>('1x1')
  const [assigned, setAssigned] = useState<Assignments>(() =>
    series?.length ? firstAssignments(series, requestedSeries) : Array(MAX_VIEWPORTS).fill(null),
  )
  const [active, setActive] = useState(0)
  const [tool, setTool] = useState<PrimaryTool>('windowLevel')
  const [fps, setFps] = useState(20)
  const [playing, setPlaying] = useState<boolean[]>(() => Array(MAX_VIEWPORTS).fill(false))
  const visible = LAYOUTS[layout]

  // First series shown: the one in the URL, else the first with images; more viewports get the next ones.
  useEffect(() => {
    if (!series?.length) return
    setAssigned((prev) => (prev.some(Boolean) ? prev : firstAssignments(series, requestedSeries)))
  }, [series, requestedSeries])

  // Fetch the metadata of the series about to be shown while Cornerstone starts (it does not need the engine).
  useEffect(() => {
    if (requestedSeries) void loadSeries(studyInstanceUID, requestedSeries).catch(() => undefined)
  }, [studyInstanceUID, requestedSeries])
  useEffect(() => {
    const first = series?.[0]?.seriesInstanceUID
    if (first && !requestedSeries) void loadSeries(studyInstanceUID, first).catch(() => undefined)
  }, [studyInstanceUID, series, requestedSeries])

  // The URL names the series in the active viewport, so a reload or a shared link opens the same view.
  useEffect(() => {
    const uid = assigned[active]
    if (uid && uid !== params.get('series')) {
      const next = new URLSearchParams(params)
      next.set('series', uid)
      setParams(next, { replace: true })
    }
  }, [assigned, active, params, setParams])

  useEffect(() => {
    tools?.setPrimaryTool(tool)
  }, [tools, tool])

  const showSeries = useCallback((index: number, uid: string) => {
    setAssigned((prev) => prev.map((u, i) => (i === index ? uid : u)))
    setPlaying((prev) => prev.map((p, i) => (i === index ? false : p)))
  }, [])

  const stopCineAt = useCallback((index: number) => {
    actions.stopCine(index)
    setPlaying((prev) => prev.map((p, i) => (i === index ? false : p)))
  }, [])

  const togglePlay = () => {
    if (playing[active]) {
      stopCineAt(active)
    } else if (actions.startCine(active, fps)) {
      setPlaying((prev) => prev.map((p, i) => (i === active ? true : p)))
    }
  }

  const changeFps = (value: number) => {
    setFps(value)
    if (playing[active]) actions.startCine(active, value)
  }

  const changeLayout = (l: Layout) => {
    setLayout(l)
    if (active >= LAYOUTS[l]) setActive(0)
  }

  const onAction = (a: ViewAction) => {
    const i = active
    switch (a) {
      case 'invert':
        return actions.toggleInvert(i)
      case 'zoomIn':
        return actions.zoomBy(i, 1.25)
      case 'zoomOut':
        return actions.zoomBy(i, 0.8)
      case 'fit':
        return actions.fit(i)
      case 'rotate':
        return actions.rotate(i, 90)
      case 'flipH':
        return actions.flip(i, 'horizontal')
      case 'flipV':
        return actions.flip(i, 'vertical')
      case 'reset':
        return actions.reset(i)
      case 'defaultWindow':
        return actions.defaultWindow(i)
    }
  }

  // Keyboard: arrows step through the stack of the active viewport, Page Up/Down by ten, Home/End to the ends.
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      const target = e.target as HTMLElement | null
      if (target && (target.tagName === 'INPUT' || target.tagName === 'SELECT' || target.isContentEditable)) return
      const step: Record<string, number> = { ArrowDown: 1, ArrowRight: 1, ArrowUp: -1, ArrowLeft: -1, PageDown: 10, PageUp: -10 }
      if (e.key in step) {
        e.preventDefault()
        if (playing[active]) stopCineAt(active)
        void actions.scrollBy(active, step[e.key])
      } else if (e.key === 'Home' || e.key === 'End') {
        e.preventDefault()
        void actions.goToSlice(active, e.key === 'Home' ? 0 : Number.MAX_SAFE_INTEGER)
      }
    }
    window.addEventListener('keydown', onKey)
    return () => window.removeEventListener('keydown', onKey)
  }, [active, playing, stopCineAt])

  const shown = useMemo(() => new Set(assigned.slice(0, visible).filter((u): u is string => Boolean(u))), [
    assigned,
    visible,
  ])
  const current = series?.find((s) => s.seriesInstanceUID === assigned[active])

  const problem = engineError ?? toolsError ?? (seriesError ? `The study could not be loaded: ${seriesError}` : null)

  return (
    <div className="viewer-page" ref={pageRef} style={{ height }} data-testid="viewer">
      <Toolbar
        layout={layout}
        tool={tool}
        playing={playing[active]}
        fps={fps}
        onLayout={changeLayout}
        onTool={setTool}
        onPreset={(c, w) => actions.applyWindow(active, c, w)}
        onAction={onAction}
        onTogglePlay={togglePlay}
        onFps={changeFps}
      />
      <div className="viewer-body">
        <aside className="viewer-side">
          <p className="viewer-back">
            <Link to={`/studies/${encodeURIComponent(studyInstanceUID)}`}>← Study</Link>
          </p>
          {series === null && !problem && <p className="viewer-muted">Loading series…</p>}
          {series && series.length === 0 && <p className="viewer-muted">This study has no series.</p>}
          {series && <SeriesPanel series={series} shown={shown} onPick={(uid) => showSeries(active, uid)} />}
        </aside>
        <section className="viewer-main" aria-label="Viewports">
          {problem && (
            <div className="viewer-error viewer-error-page" role="alert">
              {problem}
            </div>
          )}
          {ready && (
            <div className={`viewer-grid layout-${layout}`}>
              {Array.from({ length: visible }, (_, i) => (
                <ViewportPane
                  key={i}
                  index={i}
                  studyUID={studyInstanceUID}
                  seriesUID={assigned[i]}
                  active={i === active}
                  playing={playing[i]}
                  tools={tools}
                  onImageShown={imageShown}
                  onActivate={setActive}
                  onDropSeries={showSeries}
                  onCineStopped={stopCineAt}
                />
              ))}
            </div>
          )}
        </section>
        <aside className="viewer-side viewer-side-right">
          {current && (
            <p className="viewer-muted" data-testid="active-series">
              Active: {current.modality} {current.seriesNumber ?? ''} {current.description}
            </p>
          )}
          <MeasurementList tools={tools} />
          <p className="viewer-muted viewer-help">
            Wheel, arrows or the bar scroll · right-drag zooms · middle-drag pans · drag series onto a viewport
          </p>
        </aside>
      </div>
    </div>
  )
}
