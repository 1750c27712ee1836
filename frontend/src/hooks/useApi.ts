import { useCallback, useEffect, useLayoutEffect, useRef, useState } from 'react'

export interface ApiState<T> {
  data: T | undefined
  error: unknown
  loading: boolean
  /** Fetch again; `quiet` keeps the current data on screen without a loading state (live refresh). */
  reload: (quiet?: boolean) => void
}

/**
 * Run an API call (a function from src/api) when `key` changes; abort the previous one. Components use this
 * hook instead of fetching themselves.
 */
export function useApi<T>(call: (signal: AbortSignal) => Promise<T>, key: string): ApiState<T> {
  const [data, setData] = useState<T>()
  const [error, setError] = useState<unknown>()
  const [loading, setLoading] = useState(true)
  const [tick, setTick] = useState(0)
  const quietRef = useRef(false)
  const callRef = useRef(call)
  useLayoutEffect(() => {
    callRef.current = call
  })

  useEffect(() => {
    const ctrl = new AbortController()
    if (!quietRef.current) setLoading(true)
    quietRef.current = false
    callRef
      .current(ctrl.signal)
      .then((d) => {
        setData(d)
        setError(undefined)
      })
      .catch((e: unknown) => {
        if (!ctrl.signal.aborted) setError(e)
      })
      .finally(() => {
        if (!ctrl.signal.aborted) setLoading(false)
      })
    return () => ctrl.abort()
  }, [key, tick])

  const reload = useCallback((quiet = false) => {
    quietRef.current = quiet
    setTick((t) => t + 1)
  }, [])

  return { data, error, loading, reload }
}
