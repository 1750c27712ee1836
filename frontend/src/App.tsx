import { lazy, Suspense } from 'react'
import { createBrowserRouter, RouterProvider } from 'react-router'

import { Layout, RouteError } from './components/Layout'
import { Loading } from './components/States'
import StudyListPage from './features/studies/StudyListPage'
import StudyPage from './features/studies/StudyPage'
import { importViewerPage, prefetchViewer } from './features/viewer/prefetch'

// The viewer (Cornerstone3D, several MB) is its own chunk, loaded only on /viewer/..., so the study list stays light.
// Navigating there starts the chunk and the archive requests together (the route's loader, before rendering).
const ViewerPage = lazy(importViewerPage)
// The dashboard brings Chart.js; it is a chunk of its own too.
const DashboardPage = lazy(() => import('./features/analytics/DashboardPage'))

const router = createBrowserRouter([
  {
    element: <Layout />,
    errorElement: <RouteError />,
    children: [
      { path: '/', element: <StudyListPage /> },
      { path: '/studies/:studyInstanceUID', element: <StudyPage /> },
      {
        path: '/dashboard',
        element: (
          <Suspense fallback={<Loading label="Loading the dashboard…" />}>
            <DashboardPage />
          </Suspense>
        ),
      },
      {
        path: '/viewer/:studyInstanceUID',
        loader: ({ params, request }) => {
          prefetchViewer(params.studyInstanceUID ?? '', new URL(request.url).searchParams.get('series'))
          return null
        },
        // The viewer keeps its URL in step with the series shown (?series=…): that is not a new opening.
        shouldRevalidate: ({ currentUrl, nextUrl }) => currentUrl.pathname !== nextUrl.pathname,
        element: (
          <Suspense fallback={<Loading label="Loading the viewer…" />}>
            <ViewerPage />
          </Suspense>
        ),
      },
      { path: '*', element: <NotFound /> },
    ],
  },
])

function NotFound() {
  return (
    <section className="page">
      <h1>Page not found</h1>
      <p>
        <a href="/">Back to the study list</a>
      </p>
    </section>
  )
}

export default function App() {
  return <RouterProvider router={router} />
}
