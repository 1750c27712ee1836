import { useEffect, useLayoutEffect, useRef, useState } from 'react'

import { type ArchiveEvent, type ConnectionState, subscribeEvents } from '../api/events'
import { config } from '../config'

/**
 * Call `onChange` (at most once per config.liveRefreshMs, trailing) whenever the archive reports new data.
 * Returns the connection state for a "live" indicator.
 */
export function useLiveEvents(onChange: (event: ArchiveEvent) => void): ConnectionState {
  const [state, setState] = useState<ConnectionState>('connecting')
  const cb = useRef(onChange)
  useLayoutEffect(() => {
    cb.current = onChange
  })

  useEffect(() => {
    let timer: ReturnType<typeof setTimeout> | undefined
    let last = 0
    let pending: ArchiveEvent | undefined
    const fire = () => {
      timer = undefined
      last = Date.now()
      if (pending) cb.current(pending)
      pending = undefined
    }
    const unsubscribe = subscribeEvents((event) => {
      pending = event
      if (timer) return
      const wait = Math.max(0, last + config.liveRefreshMs - Date.now())
      timer = setTimeout(fire, wait)
    }, setState)
    return () => {
      if (timer) clearTimeout(timer)
      unsubscribe()
    }
  }, [])

  return state
}
