/**
 * WADO-RS frame retrieval (PS3.18 10.4.1.1.3) for the viewer's first image: one frame as a single-part
 * `multipart/related; type="application/octet-stream"` answer, asked for with `transfer-syntax=*` (the bytes as
 * stored, compressed or not), exactly as Cornerstone3D's `wadors:` loader asks for it. The viewer fetches its first
 * frame this way while its own (large) chunk is still loading, then hands the bytes to the loader.
 */
import { ApiError } from './http'

export const FRAME_ACCEPT = 'multipart/related; type="application/octet-stream"; transfer-syntax=*'

/** Implicit VR Little Endian: what the loader assumes when a part names no transfer syntax. */
const DEFAULT_TRANSFER_SYNTAX = '1.2.840.10008.1.2'

/** One frame's bytes and the transfer syntax they are encoded in. */
export interface FrameBytes {
  transferSyntaxUID: string
  pixelData: Uint8Array
}

function param(contentType: string, name: string): string | null {
  for (const part of contentType.split(';').slice(1)) {
    const eq = part.indexOf('=')
    if (eq < 0) continue
    if (part.slice(0, eq).trim().toLowerCase() === name) return part.slice(eq + 1).trim().replace(/^"|"$/g, '')
  }
  return null
}

function indexOf(haystack: Uint8Array, needle: Uint8Array, from = 0): number {
  const first = needle[0]
  outer: for (let i = haystack.indexOf(first, from); i >= 0 && i <= haystack.length - needle.length; i = haystack.indexOf(first, i + 1)) {
    for (let j = 1; j < needle.length; j++) if (haystack[i + j] !== needle[j]) continue outer
    return i
  }
  return -1
}

const ascii = new TextEncoder()
const latin1 = new TextDecoder('latin1')

/**
 * The first part of a multipart/related body (RFC 2046 5.1): its bytes and its Content-Type (the transfer syntax
 * of a frame is a parameter of it). A body that is not multipart is returned whole.
 */
export function firstPart(contentType: string, body: Uint8Array): { contentType: string; data: Uint8Array } {
  if (!/^multipart\//i.test(contentType.trim())) return { contentType, data: body }
  const boundary = param(contentType, 'boundary')
  if (!boundary) throw new Error('multipart answer without a boundary')
  const delimiter = ascii.encode(`--${boundary}`)
  const start = indexOf(body, delimiter)
  if (start < 0) throw new Error('multipart answer without its first boundary')
  const headersEnd = indexOf(body, ascii.encode('\r\n\r\n'), start)
  if (headersEnd < 0) throw new Error('multipart part without headers')
  const end = indexOf(body, ascii.encode(`\r\n--${boundary}`), headersEnd + 4)
  if (end < 0) throw new Error('multipart answer without its closing boundary')
  let partType = 'application/octet-stream'
  for (const line of latin1.decode(body.subarray(start, headersEnd)).split('\r\n')) {
    const colon = line.indexOf(':')
    if (colon > 0 && line.slice(0, colon).trim().toLowerCase() === 'content-type') partType = line.slice(colon + 1).trim()
  }
  return { contentType: partType, data: body.subarray(headersEnd + 4, end) }
}

/** Bulk data media types and their default transfer syntaxes (PS3.18 Table 8.7.3-2), as the loader maps them. */
const MEDIA_TYPE_SYNTAX: Record<string, string> = {
  'image/jpeg': '1.2.840.10008.1.2.4.50',
  'image/x-dicom-rle': '1.2.840.10008.1.2.5',
  'image/x-jls': '1.2.840.10008.1.2.4.80',
  'image/jls': '1.2.840.10008.1.2.4.80',
  'image/jll': '1.2.840.10008.1.2.4.70',
  'image/jp2': '1.2.840.10008.1.2.4.90',
  'image/jpx': '1.2.840.10008.1.2.4.92',
  'image/jxl': '1.2.840.10008.1.2.4.110',
  'image/jphc': '3.2.840.10008.1.2.4.96',
}

/** The transfer syntax a frame part is in: its `transfer-syntax` parameter, else its media type's default. */
export function frameTransferSyntax(partContentType: string): string {
  const mediaType = partContentType.split(';')[0].trim().toLowerCase()
  return param(partContentType, 'transfer-syntax') ?? MEDIA_TYPE_SYNTAX[mediaType] ?? DEFAULT_TRANSFER_SYNTAX
}

/** Retrieve one frame (`url` = …/instances/{sop}/frames/{n}); failures throw ApiError like the other calls. */
export async function retrieveFrame(url: string, signal?: AbortSignal): Promise<FrameBytes> {
  let res: Response
  try {
    res = await fetch(url, { headers: { Accept: FRAME_ACCEPT }, signal })
  } catch (e) {
    if (e instanceof DOMException && e.name === 'AbortError') throw e
    throw new ApiError(0, 'network_error', 'The archive could not be reached. Check your connection.')
  }
  if (!res.ok) throw new ApiError(res.status, `http_${res.status}`, res.statusText)
  const part = firstPart(res.headers.get('Content-Type') ?? '', new Uint8Array(await res.arrayBuffer()))
  return { transferSyntaxUID: frameTransferSyntax(part.contentType), pixelData: part.data }
}
