/**
 * The one place that talks HTTP to the portal API. Calls are typed by the API's OpenAPI document
 * (schema.d.ts, generated with openapi-typescript by `npm run gen:api`): a path that does not exist, a wrong
 * parameter or a wrong use of the answer fails the type check.
 */
import { config } from '../config'
import type { paths } from './schema'

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

type ApiPath = keyof paths & `/api/${string}`
type GetOp<P extends ApiPath> = paths[P] extends { get: infer G } ? G : never
export type ResponseOf<P extends ApiPath> =
  GetOp<P> extends { responses: { 200: { content: { 'application/json': infer R } } } } ? R : never
export type QueryOf<P extends ApiPath> = GetOp<P> extends { parameters: { query?: infer Q } } ? NonNullable<Q> : never
type PathParamsOf<P extends ApiPath> = GetOp<P> extends { parameters: { path: infer X } } ? X : never

type QueryValue = string | number | boolean | null | undefined | readonly (string | number)[]

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

/** The URL of an API path under the configured root (window.config.apiRoot, "/api" by default). */
export function apiUrl(path: ApiPath, pathParams: Record<string, string> = {}, query: object = {}): string {
  const filled = path.replace(/\{(\w+)\}/g, (_, k: string) => encodeURIComponent(pathParams[k] ?? ''))
  return `${config.apiRoot}${filled.slice('/api'.length)}${encodeQuery(query as Record<string, QueryValue>)}`
}

interface GetOptions<P extends ApiPath> {
  path?: PathParamsOf<P>
  query?: QueryOf<P>
  signal?: AbortSignal
}

/** GET a portal API path and return its typed JSON answer; failures throw ApiError. */
export async function apiGet<P extends ApiPath>(path: P, opts: GetOptions<P> = {}): Promise<ResponseOf<P>> {
  const url = apiUrl(path, (opts.path ?? {}) as Record<string, string>, opts.query ?? {})
  let res: Response
  try {
    res = await fetch(url, { headers: { Accept: 'application/json' }, signal: opts.signal })
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
      // Not JSON: a proxy or gateway answered, not the API.
      if (res.status === 502 || res.status === 503 || res.status === 504)
        detail = 'The archive server is not reachable; it may be starting or down.'
    }
    throw new ApiError(res.status, error, detail)
  }
  return (await res.json()) as ResponseOf<P>
}
