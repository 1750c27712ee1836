/** Series metadata for the viewer, fetched once per series and registered with the image loader. */
import { seriesImages, type SeriesImages } from '../../api/dicomweb'
import { registerSeriesMetadata } from './cornerstone'

const loaded = new Map<string, Promise<SeriesImages>>()

export function loadSeries(studyUID: string, seriesUID: string): Promise<SeriesImages> {
  const key = `${studyUID}/${seriesUID}`
  let p = loaded.get(key)
  if (!p) {
    p = seriesImages(studyUID, seriesUID).then((s) => {
      registerSeriesMetadata(s)
      return s
    })
    // A failed load is not cached: the next attempt asks the archive again.
    p.catch(() => loaded.delete(key))
    loaded.set(key, p)
  }
  return p
}
