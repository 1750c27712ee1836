import { StrictMode } from 'react'
import { createRoot } from 'react-dom/client'

import App from './App'
import { prefetchViewerAtStart } from './features/viewer/prefetch'
import './index.css'

// Opening /viewer/… directly: ask the archive and fetch the viewer chunk before React's first render.
prefetchViewerAtStart()

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <App />
  </StrictMode>,
)
