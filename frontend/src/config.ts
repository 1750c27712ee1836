/** Runtime configuration, read once at start from window.config (public/config.js), OHIF style. */
export interface PortalConfig {
  /** Root of the portal JSON API, e.g. "/api". */
  apiRoot: string
  /** Root of the archive's DICOMweb service, e.g. "/dicom-web". */
  dicomWebRoot: string
  /** Minimum delay between refetches triggered by live events (ms). */
  liveRefreshMs: number
}

declare global {
  interface Window {
    config?: Partial<PortalConfig>
  }
}

const defaults: PortalConfig = { apiRoot: '/api', dicomWebRoot: '/dicom-web', liveRefreshMs: 1000 }

const trim = (s: string) => s.replace(/\/+$/, '')

export const config: PortalConfig = (() => {
  const c = { ...defaults, ...(typeof window !== 'undefined' ? window.config : {}) }
  return { ...c, apiRoot: trim(c.apiRoot), dicomWebRoot: trim(c.dicomWebRoot) }
})()
