/**
 * A second, tiny entry of index.html, run before the portal's main chunk: when the page opened is the viewer, the
 * archive requests and the viewer chunk's download start as soon as the HTML is read, not after the main chunk
 * (React, the router, the study list) has downloaded and run.
 */
import { prefetchViewerAtStart } from './prefetch'

prefetchViewerAtStart()
