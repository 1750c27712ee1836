import { useCallback, useEffect, useLayoutEffect, useRef, useState } from 'react'

export interface ApiState<T> {
  data: T | undefined
  error: unknown
  /** True until the answer for the current `key` is in (also in the very render where `key` changed). */
  loading: boolean
  /** Fetch again; `quiet` keeps the current data on screen without a loading state (live refresh). */
  reload: (quiet?: boolean) => void
}

interface Settled<T> {
  key: string
  data: T | undefined
  error: unknown
}

/**
 * Run an API call (a function from src/api) when `key` changes; abort the previous one. Components use this
 * hook instead of fetching themselves.
 */
export function useApi<T>(call: (signal: AbortSignal) => Promise<T>, key: string): ApiState<T> {
  const [settled, setSettled] = useState<Settled<T> | undefined>()
  const [pending, setPending] = useState(false)
  const [tick, setTick] = useState(0)
  const quietRef = useRef(false)
  const callRef = useRef(call)
  useLayoutEffect(() => {
    callRef.current = call
  })

  useEffect(() => {
    const ctrl = new AbortController()
    const quiet = quietRef.current
    quietRef.current = false
    if (!quiet) setPending(true)
    callRef
      .current(ctrl.signal)
      .then((data) => setSettled({ key, data, error: undefined }))
      .catch((error: unknown) => {
        if (!ctrl.signal.aborted) setSettled((s) => ({ key, data: s?.data, error }))
      })
      .finally(() => {
        if (!ctrl.signal.aborted) setPending(false)
      })
    return () => ctrl.abort()
  }, [key, tick])

  const reload = useCallback((quiet = false) => {
    quietRef.current = quiet
    setTick((t) => t + 1)
  }, [])

  return {
    data: settled?.data,
    error: settled?.error,
    loading: pending || settled?.key !== key,
    reload,
  }
}
