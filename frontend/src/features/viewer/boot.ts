/**
 * Run first in the portal's main chunk (index.html lists it before main.tsx): when the page opened is the viewer,
 * the archive requests and the viewer chunk's download start before React, the router and the study list have
 * even been evaluated; on other pages, links to the viewer start its loading on intent (hover, press).
 */
import { prefetchViewerAtStart, prefetchViewerOnIntent } from './prefetch'

prefetchViewerAtStart()
prefetchViewerOnIntent()
