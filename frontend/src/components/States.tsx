import { ApiError } from '../api/http'

export function Loading({ label }: { label: string }) {
  return (
    <p className="state state-loading" role="status">
      <span className="spinner" aria-hidden="true" /> {label}
    </p>
  )
}

export function ErrorState({ error, onRetry }: { error: unknown; onRetry?: () => void }) {
  const message =
    error instanceof ApiError
      ? `${error.detail || error.error}${error.status ? ` (HTTP ${error.status})` : ''}`
      : error instanceof Error
        ? error.message
        : 'Something went wrong.'
  return (
    <div className="state state-error" role="alert">
      <strong>Could not load the data.</strong> <span className="error-detail">{message}</span>
      {onRetry && (
        <button type="button" onClick={onRetry}>
          Try again
        </button>
      )}
    </div>
  )
}

export function Empty({ children }: { children: React.ReactNode }) {
  return <p className="state state-empty">{children}</p>
}
