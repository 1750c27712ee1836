/** The study list and the study page: GET /api/studies and GET /api/studies/{uid}. */
import { apiGet, type QueryOf } from './http'
import type { StudyDetailRead, StudyPage } from './types'

type ApiStudyQuery = QueryOf<'/api/studies'>

/**
 * Query parameters of GET /api/studies; the study list keeps exactly these names in its URL. `sort` is a plain
 * string here because it comes from the URL: an unknown key is the API's to reject (400, shown to the user).
 */
export interface StudyQuery extends Omit<ApiStudyQuery, 'sort' | 'modality'> {
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
  return apiGet('/api/studies', { query: query as ApiStudyQuery, signal })
}

export function getStudy(studyInstanceUid: string, signal?: AbortSignal): Promise<StudyDetailRead> {
  return apiGet('/api/studies/{study_instance_uid}', { path: { study_instance_uid: studyInstanceUid }, signal })
}
