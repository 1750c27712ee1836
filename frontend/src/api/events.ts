/** Live archive events (server-sent events from GET /api/events, fed by PostgreSQL LISTEN/NOTIFY). */
import { apiUrl } from './http'

export interface ArchiveEvent {
  /** The SSE event name ("message" when the server sends none). */
  type: string
  data: unknown
}

export type ConnectionState = 'connecting' | 'open' | 'error'

/**
 * Subscribe to archive events. The browser's EventSource reconnects by itself; `onState` reports it.
 * Returns the function that unsubscribes.
 */
export function subscribeEvents(
  onEvent: (event: ArchiveEvent) => void,
  onState?: (state: ConnectionState) => void,
): () => void {
  const source = new EventSource(apiUrl('/api/events'))
  const handle = (e: MessageEvent) => {
    let data: unknown = e.data
    try {
      data = JSON.parse(e.data as string)
    } catch {
      /* plain text */
    }
    onEvent({ type: e.type, data })
  }
  // "open" means the server is LISTENing (its `ready` event), not merely that the HTTP stream is up: only then
  // is no store missed. A `ready` after a reconnect also means "refetch", as events may have been missed.
  let readyBefore = false
  onState?.('connecting')
  source.onopen = () => onState?.('connecting')
  source.onerror = () => onState?.(source.readyState === EventSource.CLOSED ? 'error' : 'connecting')
  source.addEventListener('ready', (e) => {
    onState?.('open')
    if (readyBefore) handle(e as MessageEvent)
    readyBefore = true
  })
  source.onmessage = handle
  // The API's named events: `instances_stored` after every ingest commit (any replica), `resync` when its
  // listener reconnected and events may have been missed.
  for (const name of ['instances_stored', 'resync']) source.addEventListener(name, handle)
  return () => source.close()
}
