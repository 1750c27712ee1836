import { useEffect, useRef } from 'react'
import { isRouteErrorResponse, Link, NavLink, Outlet, useLocation, useRouteError } from 'react-router'

export function SyntheticNotice() {
  return (
    <div className="synthetic-notice" role="note">
      Synthetic data — not for clinical use.
    </div>
  )
}

export function Layout() {
  const { pathname } = useLocation()
  const main = useRef<HTMLElement>(null)
  const first = useRef(true)
  // On navigation to another page (not on filter/sort/page changes), move focus to the content so screen
  // readers start there, as they would after a full page load.
  useEffect(() => {
    if (first.current) {
      first.current = false
      return
    }
    main.current?.focus()
  }, [pathname])
  return (
    <div className="app">
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <header className="app-header">
        <span className="brand">PACS Portal</span>
        <nav aria-label="Main">
          <NavLink to="/" end>
            Studies
          </NavLink>
          <NavLink to="/dashboard">Dashboard</NavLink>
        </nav>
        <SyntheticNotice />
      </header>
      <main id="main" tabIndex={-1} ref={main}>
        <Outlet />
      </main>
    </div>
  )
}

/** Shown instead of a page that failed to render or load (e.g. a lazy chunk after a redeploy). */
export function RouteError() {
  const error = useRouteError()
  const message = isRouteErrorResponse(error)
    ? `${error.status} ${error.statusText}`
    : error instanceof Error
      ? error.message
      : 'Unknown error'
  return (
    <section className="page" role="alert">
      <h1>Something went wrong</h1>
      <p>{message}</p>
      <p>
        <button type="button" onClick={() => window.location.reload()}>
          Reload the page
        </button>{' '}
        <Link to="/">Back to the study list</Link>
      </p>
    </section>
  )
}
