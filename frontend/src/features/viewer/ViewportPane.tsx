/** One stack viewport: the Cornerstone3D canvas, its overlays, a slice scrollbar and a drop target for series. */
import { Enums as csEnums, cache, eventTarget, utilities as csUtils, type Types } from '@cornerstonejs/core'
import { useEffect, useLayoutEffect, useMemo, useRef, useState, type DragEvent } from 'react'
import { describeLoadError, nums, num, str, type DicomJson, type SeriesImages } from '../../api/dicomweb'
import { engine, loadTools, loadedTools, stackViewport, viewportIdFor, type ViewerTools } from './cornerstone'
import { fixed, formatDate, formatPersonName, formatTime } from './format'
import { prefetchedFrameSettled, releasePrefetchedFrame } from './prefetch'
import { loadSeries } from './seriesStore'
import { goToSlice, stopCine } from './viewportActions'

export const SERIES_DRAG_TYPE = 'application/x-pacs-series'

type Status = 'empty' | 'loading' | 'ready' | 'error'

interface ViewState {
  index: number
  center: number | null
  width: number | null
  zoom: number | null
  invert: boolean
  rotation: number
}

interface Props {
  index: number
  studyUID: string
  seriesUID: string | null
  active: boolean
  playing: boolean
  /** The page's tools, once loaded (they come after the first image); null until then. */
  tools: ViewerTools | null
  /** Called when this pane has drawn the first image of a series. */
  onImageShown: () => void
  onActivate: (index: number) => void
  onDropSeries: (index: number, seriesUID: string) => void
  onCineStopped: (index: number) => void
}

const initialView: ViewState = { index: 0, center: null, width: null, zoom: null, invert: false, rotation: 0 }

function sameView(a: ViewState, b: ViewState): boolean {
  return (
    a.index === b.index &&
    a.center === b.center &&
    a.width === b.width &&
    a.invert === b.invert &&
    a.rotation === b.rotation &&
    (a.zoom === b.zoom || (a.zoom !== null && b.zoom !== null && Math.abs(a.zoom - b.zoom) < 1e-4))
  )
}

/**
 * Screen pixels per image pixel: what a radiologist means by zoom. Measured through the viewport's own
 * canvas-to-world mapping, so it holds for the GPU and the CPU renderer, rotated or not.
 */
function magnification(vp: Types.IStackViewport): number | null {
  try {
    const spacing = vp.getImageData()?.spacing
    if (!spacing) return null
    const a = vp.canvasToWorld([0, 0] as Types.Point2)
    const b = vp.canvasToWorld([100, 0] as Types.Point2)
    const mm = Math.hypot(b[0] - a[0], b[1] - a[1], b[2] - a[2])
    if (!(mm > 0)) return null
    return (100 * Math.min(spacing[0], spacing[1])) / mm
  } catch {
    return null
  }
}

export default function ViewportPane(props: Props) {
  const { index, studyUID, seriesUID, active, playing, tools, onImageShown, onActivate, onDropSeries, onCineStopped } =
    props
  const elementRef = useRef<HTMLDivElement>(null)
  const [enabled, setEnabled] = useState(false)
  const [series, setSeries] = useState<SeriesImages | null>(null)
  const [status, setStatus] = useState<Status>('empty')
  const [error, setError] = useState<string | null>(null)
  const [frameErrors, setFrameErrors] = useState<Map<number, string>>(new Map())
  const [view, setView] = useState<ViewState>(initialView)
  // The slice asked for (wheel, keys, bar, cine): shown in the overlay at once, and where a load error belongs.
  const [target, setTarget] = useState(0)
  const rendered = useRef(0)
  const paneRef = useRef<HTMLDivElement>(null)
  const [loadedCount, setLoadedCount] = useState(0)
  const [dragOver, setDragOver] = useState(false)
  const prefetchPending = useRef(false)
  const viewportId = viewportIdFor(index)

  // The page's tools act on this viewport once they are loaded (declared before the effect that enables the
  // element, so that on unmount the viewport leaves the tool group before its element is disabled).
  useLayoutEffect(() => {
    const element = elementRef.current
    if (!enabled || !tools || !element) return
    tools.attachViewport(viewportId, element)
    return () => tools.detachViewport(viewportId)
  }, [enabled, tools, viewportId])

  // Enable the element in the rendering engine while the pane is mounted (a layout effect, so that the series
  // starts loading in the same task as the page's first render, see useViewerEngine).
  useLayoutEffect(() => {
    const element = elementRef.current
    const re = engine()
    if (!element || !re) return
    re.enableElement({
      viewportId,
      type: csEnums.ViewportType.STACK,
      element,
      defaultOptions: { background: [0, 0, 0] as Types.Point3 },
    })
    setEnabled(true)

    const update = () => {
      const vp = stackViewport(index)
      if (!vp || !vp.getImageIds().length) return
      const props = vp.getProperties()
      const range = props.voiRange
      const ww = range ? csUtils.windowLevel.toWindowLevel(range.lower, range.upper) : null
      const next: ViewState = {
        index: vp.getCurrentImageIdIndex(),
        center: ww ? ww.windowCenter : null,
        width: ww ? ww.windowWidth : null,
        zoom: magnification(vp),
        invert: Boolean(props.invert),
        rotation: vp.getViewPresentation().rotation ?? 0,
      }
      // Same view, same state object: React skips the re-render (this runs on every frame while scrolling).
      setView((prev) => (sameView(prev, next) ? prev : next))
    }
    const onRendered = () => {
      // Once the first image is on screen (not competing with it): the page loads its tools, and the rest of the
      // stack is prefetched (the prefetcher comes with the tools).
      if (prefetchPending.current) {
        prefetchPending.current = false
        onImageShown()
        loadTools()
          .then((t) => {
            if (engine()?.getViewport(viewportId)?.element === element) t.stackPrefetch.enable(element)
          })
          .catch(() => undefined)
      }
      // A render counter for tests and benchmarks, kept out of React state (no re-render per frame).
      rendered.current += 1
      if (paneRef.current) paneRef.current.dataset.rendered = String(rendered.current)
      setStatus((s) => (s === 'loading' ? 'ready' : s))
      update()
    }
    const onPreNewImage = (evt: Event) => {
      const i = (evt as CustomEvent<{ imageIdIndex?: number }>).detail?.imageIdIndex
      if (typeof i === 'number') setTarget(i)
    }
    element.addEventListener(csEnums.Events.PRE_STACK_NEW_IMAGE, onPreNewImage)
    element.addEventListener(csEnums.Events.IMAGE_RENDERED, onRendered)
    element.addEventListener(csEnums.Events.STACK_NEW_IMAGE, update)
    element.addEventListener(csEnums.Events.VOI_MODIFIED, update)
    element.addEventListener(csEnums.Events.CAMERA_MODIFIED, update)

    // Resize the canvas when the pane's size changes (layout, window), not on the observer's first call: a
    // resize clears the canvas until the next render.
    let frame = 0
    let size = `${element.clientWidth}x${element.clientHeight}`
    const observer = new ResizeObserver(() => {
      const now = `${element.clientWidth}x${element.clientHeight}`
      if (now === size) return
      size = now
      cancelAnimationFrame(frame)
      frame = requestAnimationFrame(() => engine()?.resize(true, true))
    })
    observer.observe(element)
    return () => {
      observer.disconnect()
      cancelAnimationFrame(frame)
      element.removeEventListener(csEnums.Events.PRE_STACK_NEW_IMAGE, onPreNewImage)
      element.removeEventListener(csEnums.Events.IMAGE_RENDERED, onRendered)
      element.removeEventListener(csEnums.Events.STACK_NEW_IMAGE, update)
      element.removeEventListener(csEnums.Events.VOI_MODIFIED, update)
      element.removeEventListener(csEnums.Events.CAMERA_MODIFIED, update)
      // When the whole page goes, its rendering engine may be destroyed first (parent clean-ups run first):
      // then there is nothing left to disable here.
      const re = engine()
      if (re?.getViewport(viewportId)) {
        stopCine(index)
        loadedTools()?.stackPrefetch.disable(element)
        re.disableElement(viewportId)
      }
      setEnabled(false)
    }
  }, [index, viewportId, onImageShown])

  // Load the series into the viewport whenever it changes (the rest of the stack is prefetched once the first
  // image is drawn, see onRendered).
  useEffect(() => {
    if (!enabled) return
    setSeries(null)
    setError(null)
    setFrameErrors(new Map())
    setView(initialView)
    setTarget(0)
    setLoadedCount(0)
    if (!seriesUID) {
      setStatus('empty')
      return
    }
    setStatus('loading')
    let cancelled = false
    loadSeries(studyUID, seriesUID)
      .then(async (s) => {
        if (cancelled) return
        setSeries(s)
        if (!s.frames.length) {
          setStatus('error')
          setError('This series has no images to display.')
          return
        }
        const vp = stackViewport(index)
        if (!vp) return
        stopCine(index)
        const imageIds = s.frames.map((f) => f.imageId)
        setLoadedCount(imageIds.filter((id) => cache.isLoaded(id)).length)
        prefetchPending.current = true
        try {
          // The first frame's bytes may be on their way already (prefetch.ts): take them rather than ask again.
          await prefetchedFrameSettled(imageIds[0])
          if (cancelled) return
          performance.mark?.('viewer:set-stack')
          await vp.setStack(imageIds, 0)
          vp.render()
        } catch (e) {
          // The first image failed: an error of that image (the others may still display).
          if (!cancelled) setFrameErrors((m) => new Map(m).set(0, describeLoadError(e)))
        } finally {
          releasePrefetchedFrame(imageIds[0])
        }
      })
      .catch((e: unknown) => {
        if (cancelled) return
        setStatus('error')
        setError(`The series could not be loaded: ${describeLoadError(e)}`)
      })
    return () => {
      cancelled = true
    }
  }, [enabled, index, studyUID, seriesUID])

  // Count fetched images (prefetch progress) and remember which ones failed, with the reason.
  useEffect(() => {
    if (!series) return
    const position = new Map(series.frames.map((f, i) => [f.imageId, i]))
    const onLoaded = (evt: Event) => {
      const id = (evt as CustomEvent<{ image?: { imageId?: string } }>).detail?.image?.imageId
      if (id && position.has(id)) setLoadedCount((n) => Math.min(series.frames.length, n + 1))
    }
    const onFailed = (evt: Event) => {
      const detail = (evt as CustomEvent<{ imageId?: string; error?: unknown }>).detail
      const i = detail?.imageId !== undefined ? position.get(detail.imageId) : undefined
      if (i === undefined) return
      setFrameErrors((m) => new Map(m).set(i, describeLoadError(detail.error)))
    }
    eventTarget.addEventListener(csEnums.Events.IMAGE_LOADED, onLoaded)
    eventTarget.addEventListener(csEnums.Events.IMAGE_LOAD_FAILED, onFailed)
    eventTarget.addEventListener(csEnums.Events.IMAGE_LOAD_ERROR, onFailed)
    return () => {
      eventTarget.removeEventListener(csEnums.Events.IMAGE_LOADED, onLoaded)
      eventTarget.removeEventListener(csEnums.Events.IMAGE_LOAD_FAILED, onFailed)
      eventTarget.removeEventListener(csEnums.Events.IMAGE_LOAD_ERROR, onFailed)
    }
  }, [series])

  // Cine stops by itself when the pane is told so.
  useEffect(() => {
    if (!playing) stopCine(index)
  }, [playing, index])

  const bySop = useMemo(() => {
    const m = new Map<string, DicomJson>()
    for (const ds of series?.instances ?? []) m.set(str(ds, '00080018'), ds)
    return m
  }, [series])

  const total = series?.frames.length ?? 0
  const current = series?.frames[target]
  const ds = current ? bySop.get(current.sopInstanceUID) : series?.instances[0]
  const frameError = frameErrors.get(target)
  const shownError = error ?? (frameError ? `Image ${target + 1} of ${total} cannot be displayed: ${frameError}` : null)
  const position = ds ? nums(ds, '00200032') : []
  const sliceLocation = ds ? num(ds, '00201041') : null
  const thickness = ds ? num(ds, '00180050') : null
  const multiFrame = (current?.numberOfFrames ?? 1) > 1
  // 'ready' (what tests and people wait for) means usable: the image is shown and the mouse tools are attached.
  const shownStatus: Status = shownError ? 'error' : status === 'ready' && !tools ? 'loading' : status

  const onDragOverPane = (e: DragEvent) => {
    if (e.dataTransfer.types.includes(SERIES_DRAG_TYPE)) {
      e.preventDefault()
      e.dataTransfer.dropEffect = 'copy'
      setDragOver(true)
    }
  }
  const onDrop = (e: DragEvent) => {
    setDragOver(false)
    const uid = e.dataTransfer.getData(SERIES_DRAG_TYPE)
    if (uid) {
      e.preventDefault()
      onActivate(index)
      onDropSeries(index, uid)
    }
  }

  return (
    <div
      ref={paneRef}
      className={`viewer-pane${active ? ' is-active' : ''}${dragOver ? ' is-drop-target' : ''}`}
      data-testid={`viewport-${index}`}
      data-status={shownStatus}
      data-slice={total ? target + 1 : 0}
      data-shown={total ? view.index + 1 : 0}
      data-total={total}
      data-loaded={loadedCount}
      data-series={seriesUID ?? ''}
      aria-label={`Viewport ${index + 1}${active ? ' (active)' : ''}`}
      onPointerDownCapture={() => onActivate(index)}
      onDragOver={onDragOverPane}
      onDragLeave={() => setDragOver(false)}
      onDrop={onDrop}
    >
      <div
        ref={elementRef}
        className="viewer-canvas"
        data-testid={`viewport-canvas-${index}`}
        onContextMenu={(e) => e.preventDefault()}
      />
      {status === 'empty' && <div className="viewer-hint">Drag a series here, or click one in the list</div>}
      {status === 'loading' && !shownError && <div className="viewer-hint">Loading…</div>}
      {shownError && (
        // Opaque: the previous image must not pass for the one that failed.
        <div className="viewer-error-cover">
          <div className="viewer-error" role="alert" data-testid={`viewport-error-${index}`}>
            {shownError}
          </div>
        </div>
      )}
      {series && ds && (
        <div className="viewer-overlay" aria-live="off">
          <div className="ov ov-tl">
            <div data-testid="overlay-patient">{formatPersonName(str(ds, '00100010'))}</div>
            <div>{str(ds, '00100020')}</div>
            <div>
              {formatDate(str(ds, '00100030'))} {str(ds, '00100040')}
            </div>
          </div>
          <div className="ov ov-tr">
            <div data-testid="overlay-study">{str(ds, '00081030')}</div>
            <div>
              {formatDate(str(ds, '00080020'))} {formatTime(str(ds, '00080030'))}
            </div>
            <div data-testid="overlay-series">
              {str(ds, '00080060')} Se {str(ds, '00200011')}: {str(ds, '0008103E')}
            </div>
          </div>
          <div className="ov ov-bl">
            <div data-testid="overlay-slice">
              {multiFrame
                ? `Fr ${current?.frame ?? 1}/${current?.numberOfFrames ?? 1} · Im ${target + 1}/${total}`
                : `Im ${target + 1}/${total}`}
            </div>
            {(sliceLocation !== null || position.length === 3) && (
              <div data-testid="overlay-position">
                Loc {fixed(sliceLocation ?? position[2], 1)} mm
                {thickness !== null ? ` · Thk ${fixed(thickness, 1)} mm` : ''}
              </div>
            )}
            {loadedCount < total && (
              <div className="ov-dim" data-testid="overlay-loaded">
                Loaded {loadedCount}/{total}
              </div>
            )}
          </div>
          <div className="ov ov-br">
            <div data-testid="overlay-wl">
              {view.width !== null ? `W ${Math.round(view.width)} L ${Math.round(view.center ?? 0)}` : ''}
            </div>
            <div data-testid="overlay-zoom">
              {view.zoom !== null ? `Zoom ${view.zoom.toFixed(2)}×` : ''}
              {view.rotation ? ` · Rot ${Math.round(view.rotation)}°` : ''}
              {view.invert ? ' · Inv' : ''}
            </div>
          </div>
        </div>
      )}
      {total > 1 && (
        <input
          className="viewer-scrollbar"
          type="range"
          min={1}
          max={total}
          value={target + 1}
          aria-label="Slice"
          data-testid={`viewport-scrollbar-${index}`}
          onChange={(e) => {
            if (playing) onCineStopped(index)
            void goToSlice(index, Number(e.target.value) - 1)
          }}
        />
      )}
    </div>
  )
}
