/** The study list and the study page: GET /api/studies and GET /api/studies/{uid}. */
import { getJson } from './http'
import type { StudyDetail, StudyPage } from './types'

/** Query parameters of GET /api/studies; the study list keeps exactly these names in its URL. */
export interface StudyQuery {
  mrn?: string
  accession?: string
  name?: string
  modality?: string[]
  date_from?: string
  date_to?: string
  description?: string
  referring?: string
  sort?: string
  limit?: number
  cursor?: string
}

export function searchStudies(query: StudyQuery, signal?: AbortSignal): Promise<StudyPage> {
  return getJson<StudyPage>('/studies', { ...query }, signal)
}

export function getStudy(studyInstanceUid: string, signal?: AbortSignal): Promise<StudyDetail> {
  return getJson<StudyDetail>(`/studies/${encodeURIComponent(studyInstanceUid)}`, {}, signal)
}
