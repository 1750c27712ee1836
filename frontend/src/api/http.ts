/** The one place that talks HTTP for the portal API: JSON in, typed JSON out, errors as ApiError. */
import { config } from '../config'

/** An API answer that was not a success: the server's {"error", "detail"} body, or a network failure. */
export class ApiError extends Error {
  readonly status: number
  readonly error: string
  readonly detail: string

  constructor(status: number, error: string, detail: string) {
    super(detail || error)
    this.status = status
    this.error = error
    this.detail = detail
  }
}

export type QueryValue = string | number | boolean | null | undefined | readonly (string | number)[]

/** Encode query parameters; arrays repeat the key (modality=CT&modality=MR), empty values are left out. */
export function encodeQuery(params: Record<string, QueryValue>): string {
  const q = new URLSearchParams()
  for (const [key, value] of Object.entries(params)) {
    if (value === undefined || value === null || value === '') continue
    if (Array.isArray(value)) {
      for (const v of value) if (v !== '') q.append(key, String(v))
    } else {
      q.append(key, String(value))
    }
  }
  const s = q.toString()
  return s ? `?${s}` : ''
}

export function apiUrl(path: string, params: Record<string, QueryValue> = {}): string {
  return `${config.apiRoot}${path}${encodeQuery(params)}`
}

export async function getJson<T>(
  path: string,
  params: Record<string, QueryValue> = {},
  signal?: AbortSignal,
): Promise<T> {
  let res: Response
  try {
    res = await fetch(apiUrl(path, params), { headers: { Accept: 'application/json' }, signal })
  } catch (e) {
    if (e instanceof DOMException && e.name === 'AbortError') throw e
    throw new ApiError(0, 'network_error', 'The server could not be reached. Check your connection.')
  }
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
  return (await res.json()) as T
}
