import { NavLink, Outlet } from 'react-router'

export function SyntheticNotice() {
  return (
    <div className="synthetic-notice" role="note">
      Synthetic data — not for clinical use.
    </div>
  )
}

export function Layout() {
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
      <main id="main" tabIndex={-1}>
        <Outlet />
      </main>
    </div>
  )
}
