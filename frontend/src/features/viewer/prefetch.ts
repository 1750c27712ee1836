/**
 * Opening a study in the viewer starts here, in the portal's small main chunk, so nothing waits for the viewer's
 * own chunk (Cornerstone3D, several MB to download, parse and run) before asking the archive: the chunk's download
 * and the archive's answers (QIDO-RS series, the WADO-RS metadata of the series shown first, then that series'
 * first frame) run side by side. ViewerPage and seriesStore then pick the answers up instead of asking again, and
 * the image loader takes the first frame's bytes from here instead of fetching them (cornerstone.ts).
 *
 * Nothing here may import Cornerstone (directly or through another viewer module): that would pull it into the
 * main chunk.
 */
import { searchSeries, seriesImages, type SeriesImages, type SeriesSummary } from '../../api/dicomweb'
import { retrieveFrame, type FrameBytes } from '../../api/frames'

/** Loads the viewer's chunk; the same import as App's lazy route, so it is fetched once. */
export const importViewerPage = () => import('./ViewerPage')

/** QIDO-RS answers fetched ahead, taken (once, while fresh) by the viewer page that opens the study. */
const studySeries = new Map<
  string,
  { at: number; answer: Promise<SeriesSummary[]>; value?: SeriesSummary[] }
>()
const FRESH_MS = 10_000
/** WADO-RS series metadata, fetched once per series for the life of the page. */
const seriesMetadata = new Map<string, Promise<SeriesImages>>()

const mark = (name: string) => performance.mark?.(`viewer:${name}`)

/** First frames fetched ahead, by `wadors:` image id: pending, then ready to be taken once. */
const framesPending = new Map<string, Promise<void>>()
const framesReady = new Map<string, FrameBytes>()
const MAX_READY_FRAMES = 4
/** Images the viewer has loaded once: Cornerstone's cache has them, fetching them ahead again would be waste. */
const framesLoaded = new Set<string>()

function prefetchFirstFrame(series: SeriesImages): void {
  const imageId = series.frames[0]?.imageId
  if (!imageId || framesPending.has(imageId) || framesReady.has(imageId) || framesLoaded.has(imageId)) return
  const done = retrieveFrame(imageId.slice('wadors:'.length))
    .then((frame) => {
      mark('first-frame')
      // Never hold more than a few frames nobody took (a study opened and left before its viewer started).
      if (framesReady.size >= MAX_READY_FRAMES) framesReady.delete(framesReady.keys().next().value as string)
      framesReady.set(imageId, frame)
    })
    // A failed prefetch is not an error: the loader fetches the frame itself and reports what goes wrong.
    .catch(() => undefined)
    .finally(() => framesPending.delete(imageId))
  framesPending.set(imageId, done)
}

/** Resolves when the prefetch of this image's bytes (if one is running) has finished, whatever its outcome. */
export function prefetchedFrameSettled(imageId: string): Promise<void> {
  return framesPending.get(imageId) ?? Promise.resolve()
}

/** The prefetched bytes of an image, if there are (cheap when there are none: asked on every metadata lookup). */
export function prefetchedFrame(imageId: string): FrameBytes | undefined {
  return framesReady.size ? framesReady.get(imageId) : undefined
}

/** The viewer has loaded the image (its decoded pixels are in Cornerstone's cache): drop the bytes. */
export function releasePrefetchedFrame(imageId: string): void {
  framesReady.delete(imageId)
  framesLoaded.add(imageId)
}

/**
 * The image loader's decode worker (a module worker: its 200 kB script is fetched and compiled on its own thread,
 * ~100 ms on a busy machine). Started with the archive requests, it is ready when the first frame is to be
 * decoded; cornerstone.ts gives it to the loader's worker pool (and starts any further ones with this function).
 * The path is the loader's own worker module, which Vite bundles (with its codecs) as it does for the loader.
 */
export function startDecodeWorker(): Worker {
  return new Worker(
    new URL('../../../node_modules/@cornerstonejs/dicom-image-loader/dist/esm/decodeImageFrameWorker.js', import.meta.url),
    { type: 'module' },
  )
}

let earlyDecodeWorker: Worker | null = null
let decodeWorkerStarted = false

/** The decode worker started ahead, handed over once (null if none was started, or it was taken). */
export function takeEarlyDecodeWorker(): Worker | null {
  const w = earlyDecodeWorker
  earlyDecodeWorker = null
  return w
}

/** A series' metadata: the one request for it, shared by whoever asks first (prefetch, page, viewport). */
export function fetchSeriesMetadata(studyUID: string, seriesUID: string): Promise<SeriesImages> {
  const key = `${studyUID}/${seriesUID}`
  let p = seriesMetadata.get(key)
  if (!p) {
    p = seriesImages(studyUID, seriesUID)
    p.then(() => mark('series-metadata'))
    // A failed load is not kept: the next attempt asks the archive again.
    p.catch(() => seriesMetadata.delete(key))
    seriesMetadata.set(key, p)
  }
  return p
}

/** The prefetched series of a study if they have already arrived (taken once), so a page can start with them. */
export function takeStudySeriesNow(studyUID: string): SeriesSummary[] | null {
  const ahead = studySeries.get(studyUID)
  if (!ahead?.value || performance.now() - ahead.at >= FRESH_MS) return null
  studySeries.delete(studyUID)
  return ahead.value
}

/** The series of a study: the prefetched answer when there is one (used once), else a new QIDO-RS query. */
export function studySeriesOnce(studyUID: string, signal?: AbortSignal): Promise<SeriesSummary[]> {
  const ahead = studySeries.get(studyUID)
  studySeries.delete(studyUID)
  if (ahead && performance.now() - ahead.at < FRESH_MS) return ahead.answer
  return searchSeries(studyUID, signal)
}

/**
 * Start everything opening /viewer/{studyUID}[?series=…] needs: the viewer chunk, the study's series and the
 * metadata of the series shown first (the requested one, else the first by series number, as ViewerPage picks).
 * Idempotent while the answers are pending; errors surface where the page uses the answers.
 */
export function prefetchViewer(studyUID: string, seriesUID: string | null = null): void {
  if (!studyUID) return
  mark('prefetch')
  if (!earlyDecodeWorker && !decodeWorkerStarted) {
    decodeWorkerStarted = true
    try {
      earlyDecodeWorker = startDecodeWorker()
    } catch {
      /* the loader starts its own */
    }
  }
  void importViewerPage().then(() => mark('chunk-loaded'))
  if (seriesUID) void fetchSeriesMetadata(studyUID, seriesUID).then(prefetchFirstFrame, () => undefined)
  const ahead = studySeries.get(studyUID)
  if (ahead && performance.now() - ahead.at < FRESH_MS) return
  const series = searchSeries(studyUID)
  const entry: { at: number; answer: Promise<SeriesSummary[]>; value?: SeriesSummary[] } = {
    at: performance.now(),
    answer: series,
  }
  studySeries.set(studyUID, entry)
  series
    .then((list) => {
      entry.value = list
      mark('series-list')
      const first = list[0]?.seriesInstanceUID
      if (!seriesUID && first) return fetchSeriesMetadata(studyUID, first).then(prefetchFirstFrame)
    })
    .catch(() => undefined)
}

/** The study (and series) a viewer URL opens, or null when the URL is not the viewer's. */
function viewerTarget(url: URL): { studyUID: string; seriesUID: string | null } | null {
  const m = /^\/viewer\/([^/]+)\/?$/.exec(url.pathname)
  if (!m) return null
  try {
    return { studyUID: decodeURIComponent(m[1]), seriesUID: url.searchParams.get('series') }
  } catch {
    return null
  }
}

/** Call at start-up: when the page opened is the viewer, start its loading before React renders anything. */
export function prefetchViewerAtStart(location: Location = window.location): void {
  const target = viewerTarget(new URL(location.href))
  if (target) prefetchViewer(target.studyUID, target.seriesUID)
}

/**
 * Opening a study from a list: the viewer chunk starts loading when a pointer goes over (or focus comes to) a link
 * to the viewer, and the archive requests when the button goes down on it, a little before the click that
 * navigates (people take a few hundred milliseconds from hovering to clicking).
 */
export function prefetchViewerOnIntent(root: Document = document): void {
  const viewerLink = (e: Event): URL | null => {
    const a = e.target instanceof Element ? e.target.closest('a[href]') : null
    if (!(a instanceof HTMLAnchorElement)) return null
    const url = new URL(a.href)
    return url.origin === window.location.origin && viewerTarget(url) ? url : null
  }
  let chunkAsked = false
  const intent = (e: Event) => {
    if (chunkAsked || !viewerLink(e)) return
    chunkAsked = true
    void importViewerPage().catch(() => {
      chunkAsked = false
    })
  }
  const press = (e: Event) => {
    const url = viewerLink(e)
    const target = url && viewerTarget(url)
    if (target) prefetchViewer(target.studyUID, target.seriesUID)
  }
  root.addEventListener('pointerover', intent, { passive: true })
  root.addEventListener('focusin', intent)
  root.addEventListener('pointerdown', press, { passive: true })
}
