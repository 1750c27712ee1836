/**
 * The portal API's types. PROVISIONAL until the API's OpenAPI lands: then these become aliases of the
 * generated schema (src/api/schema.d.ts, `npm run gen:api`).
 */
export interface StudyRead {
  study_instance_uid: string
  patient_name: string | null
  patient_id: string | null
  patient_birth_date: string | null
  patient_sex: string | null
  accession_number: string | null
  study_date: string | null
  study_time: string | null
  modalities: string[]
  study_description: string | null
  referring_physician_name: string | null
  number_of_series: number
  number_of_instances: number
}

export interface StudyPage {
  items: StudyRead[]
  next_cursor: string | null
  prev_cursor: string | null
  total: number
  total_is_estimate: boolean
}

export interface SeriesRead {
  series_instance_uid: string
  series_number: number | null
  modality: string | null
  series_description: string | null
  number_of_instances: number
}

export interface StudyDetail extends StudyRead {
  series: SeriesRead[]
}

export interface ModalityStat {
  modality: string
  studies: number
  instances: number
  bytes: number
}
