/** Named types of the portal API, from its OpenAPI document (schema.d.ts is generated: `npm run gen:api`). */
import type { components } from './schema'

type Schemas = components['schemas']

export type StudyRead = Schemas['StudyRead']
export type StudyPage = Schemas['StudyPage']
export type SeriesRead = Schemas['SeriesRead']
export type StudyDetailRead = Schemas['StudyDetailRead']
export type ModalityStat = Schemas['ModalityStat']
export type ArchiveSummary = Schemas['ArchiveSummary']
export type TimeBucket = Schemas['TimeBucket']
export type IngestBucket = Schemas['IngestBucket']
export type NameCount = Schemas['NameCount']
export type Interval = Schemas['Interval']
