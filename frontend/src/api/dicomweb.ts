/**
 * The viewer's DICOMweb client: QIDO-RS (PS3.18 10.6) for a study's series, WADO-RS metadata (PS3.18 10.4.1.1.2)
 * per series, and the `wadors:` image ids through which Cornerstone3D fetches frames (PS3.18 10.4.1.1.3,
 * `multipart/related; type="application/octet-stream"; transfer-syntax=*`, so compressed bitstreams arrive as
 * stored and are decoded in the browser). Components never fetch: they call these functions.
 */
import { config } from '../config'
import { ApiError } from './http'

export { seriesThumbnailUrl } from './thumbnails'

/** One attribute of DICOM JSON (PS3.18 F.2.2). */
export interface DicomJsonAttribute {
  vr: string
  Value?: unknown[]
  BulkDataURI?: string
  InlineBinary?: string
}

/** A dataset in DICOM JSON, keyed by the tag as 8 upper-case hex digits. */
export type DicomJson = Record<string, DicomJsonAttribute>

/** A series as the viewer's series panel shows it. */
export interface SeriesSummary {
  studyInstanceUID: string
  seriesInstanceUID: string
  seriesNumber: number | null
  modality: string
  description: string
  numberOfInstances: number | null
}

/** One displayable image (one frame of one instance) of a series, in display order. */
export interface FrameRef {
  imageId: string
  sopInstanceUID: string
  frame: number
  numberOfFrames: number
  instanceNumber: number | null
}

/** A series' metadata, ready for the viewer: its frames in order and its instances' DICOM JSON. */
export interface SeriesImages {
  studyInstanceUID: string
  seriesInstanceUID: string
  frames: FrameRef[]
  instances: DicomJson[]
}

const enc = encodeURIComponent

/** The DICOMweb root as an absolute URL (image ids must be absolute: they key Cornerstone's caches). */
export function dicomWebBase(): string {
  return new URL(config.dicomWebRoot, window.location.href).href.replace(/\/+$/, '')
}

export function first(ds: DicomJson | undefined, tag: string): unknown {
  return ds?.[tag]?.Value?.[0]
}

export function str(ds: DicomJson | undefined, tag: string): string {
  const v = first(ds, tag)
  if (v === undefined || v === null) return ''
  if (typeof v === 'object' && v !== null && 'Alphabetic' in v) {
    return String((v as { Alphabetic?: string }).Alphabetic ?? '')
  }
  return String(v)
}

export function num(ds: DicomJson | undefined, tag: string): number | null {
  const v = first(ds, tag)
  if (v === undefined || v === null || v === '') return null
  const n = Number(v)
  return Number.isFinite(n) ? n : null
}

export function nums(ds: DicomJson | undefined, tag: string): number[] {
  const vals = ds?.[tag]?.Value ?? []
  return vals.map((v) => Number(v)).filter((n) => Number.isFinite(n))
}

async function getDicomJson(url: string, signal?: AbortSignal): Promise<DicomJson[]> {
  let res: Response
  try {
    res = await fetch(url, { headers: { Accept: 'application/dicom+json' }, signal })
  } catch (e) {
    if (e instanceof DOMException && e.name === 'AbortError') throw e
    throw new ApiError(0, 'network_error', 'The archive could not be reached. Check your connection.')
  }
  if (res.status === 204) return []
  if (!res.ok) {
    let error = `http_${res.status}`
    let detail = res.statusText
    try {
      const body = (await res.json()) as { error?: string; detail?: unknown }
      error = body.error ?? error
      detail = typeof body.detail === 'string' ? body.detail : JSON.stringify(body.detail ?? detail)
    } catch {
      /* not JSON: keep the status text */
    }
    throw new ApiError(res.status, error, detail)
  }
  return (await res.json()) as DicomJson[]
}

/** QIDO-RS: the series of a study, ordered by series number. */
export async function searchSeries(studyUID: string, signal?: AbortSignal): Promise<SeriesSummary[]> {
  const url = `${dicomWebBase()}/studies/${enc(studyUID)}/series`
  const rows = await getDicomJson(url, signal)
  const out = rows.map((ds) => ({
    studyInstanceUID: studyUID,
    seriesInstanceUID: str(ds, '0020000E'),
    seriesNumber: num(ds, '00200011'),
    modality: str(ds, '00080060'),
    description: str(ds, '0008103E'),
    numberOfInstances: num(ds, '00201209'),
  }))
  return out.sort((a, b) => (a.seriesNumber ?? 1e9) - (b.seriesNumber ?? 1e9))
}

/** WADO-RS image id of one frame (1-based), for Cornerstone3D's `wadors` loader. */
export function frameImageId(studyUID: string, seriesUID: string, sopUID: string, frame: number): string {
  return (
    `wadors:${dicomWebBase()}/studies/${enc(studyUID)}/series/${enc(seriesUID)}` +
    `/instances/${enc(sopUID)}/frames/${frame}`
  )
}

/** Sort key along the slice normal (ImagePositionPatient · normal of ImageOrientationPatient), if present. */
function slicePosition(ds: DicomJson): number | null {
  const ipp = nums(ds, '00200032')
  const iop = nums(ds, '00200037')
  if (ipp.length !== 3 || iop.length !== 6) return null
  const n = [
    iop[1] * iop[5] - iop[2] * iop[4],
    iop[2] * iop[3] - iop[0] * iop[5],
    iop[0] * iop[4] - iop[1] * iop[3],
  ]
  return ipp[0] * n[0] + ipp[1] * n[1] + ipp[2] * n[2]
}

/** Instances in display order: instance number, then position along the normal, then SOP Instance UID. */
export function sortInstances(instances: DicomJson[]): DicomJson[] {
  return [...instances].sort((a, b) => {
    const ia = num(a, '00200013')
    const ib = num(b, '00200013')
    if (ia !== null && ib !== null && ia !== ib) return ia - ib
    const pa = slicePosition(a)
    const pb = slicePosition(b)
    if (pa !== null && pb !== null && pa !== pb) return pa - pb
    return str(a, '00080018') < str(b, '00080018') ? -1 : 1
  })
}

/** Instances without pixel data (SR, KOS, PR …) cannot be shown in a stack. */
function isImage(ds: DicomJson): boolean {
  return num(ds, '00280010') !== null && num(ds, '00280011') !== null
}

/** WADO-RS metadata of a series, turned into the frames the viewer stacks (multi-frame instances expand). */
export async function seriesImages(
  studyUID: string,
  seriesUID: string,
  signal?: AbortSignal,
): Promise<SeriesImages> {
  const url = `${dicomWebBase()}/studies/${enc(studyUID)}/series/${enc(seriesUID)}/metadata`
  const instances = sortInstances((await getDicomJson(url, signal)).filter(isImage))
  const frames: FrameRef[] = []
  for (const ds of instances) {
    const sop = str(ds, '00080018')
    const numberOfFrames = Math.max(1, num(ds, '00280008') ?? 1)
    for (let f = 1; f <= numberOfFrames; f++) {
      frames.push({
        imageId: frameImageId(studyUID, seriesUID, sop, f),
        sopInstanceUID: sop,
        frame: f,
        numberOfFrames,
        instanceNumber: num(ds, '00200013'),
      })
    }
  }
  return { studyInstanceUID: studyUID, seriesInstanceUID: seriesUID, frames, instances }
}

/**
 * A readable reason for a failed frame load: the archive's {"error","detail"} body when an XHR came back with
 * one, the decoder's message otherwise.
 */
export function describeLoadError(error: unknown): string {
  if (typeof XMLHttpRequest !== 'undefined' && error instanceof XMLHttpRequest) {
    if (error.status === 0) return 'the archive could not be reached'
    let detail = ''
    try {
      const body = error.response
      const text =
        body instanceof ArrayBuffer ? new TextDecoder().decode(body) : typeof body === 'string' ? body : ''
      const parsed = JSON.parse(text) as { error?: string; detail?: string }
      detail = parsed.detail ?? parsed.error ?? ''
    } catch {
      /* not JSON */
    }
    return `HTTP ${error.status}${detail ? `: ${detail}` : ` ${error.statusText}`}`
  }
  // The wasm codecs throw bare numbers (an exception pointer): say what happened instead.
  const undecodable = (code: unknown) => `its pixel data could not be decoded (decoder error ${code})`
  if (typeof error === 'number' || (typeof error === 'string' && /^\d+$/.test(error))) return undecodable(error)
  if (error instanceof Error) return /^\d+$/.test(error.message) ? undecodable(error.message) : error.message
  if (error && typeof error === 'object') {
    const e = error as { message?: unknown; error?: unknown; status?: unknown }
    if (e.error !== undefined && e.error !== error) return describeLoadError(e.error)
    if (typeof e.message === 'string') return e.message
    if (typeof e.status === 'number') return `HTTP ${e.status}`
  }
  return String(error ?? 'unknown error')
}
