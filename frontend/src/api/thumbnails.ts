/** Image URLs from the archive's WADO-RS (PS3.18 10.4.1.1.4 thumbnails), used as <img src>. */
import { config } from '../config'

const enc = encodeURIComponent

export function seriesThumbnailUrl(studyUid: string, seriesUid: string): string {
  return `${config.dicomWebRoot}/studies/${enc(studyUid)}/series/${enc(seriesUid)}/thumbnail`
}

export function studyThumbnailUrl(studyUid: string): string {
  return `${config.dicomWebRoot}/studies/${enc(studyUid)}/thumbnail`
}
