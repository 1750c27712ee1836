/** Series metadata for the viewer, fetched once per series (see prefetch.ts) and registered with the image loader. */
import type { SeriesImages } from '../../api/dicomweb'
import { registerSeriesMetadata } from './cornerstone'
import { fetchSeriesMetadata } from './prefetch'

const registered = new WeakSet<SeriesImages>()

export function loadSeries(studyUID: string, seriesUID: string): Promise<SeriesImages> {
  return fetchSeriesMetadata(studyUID, seriesUID).then((s) => {
    if (!registered.has(s)) {
      registerSeriesMetadata(s)
      registered.add(s)
    }
    return s
  })
}
