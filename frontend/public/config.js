// Runtime configuration, loaded before the app (one build serves every environment; edit or replace this file
// when deploying). URLs are relative so the portal works behind any reverse proxy.
window.config = {
  apiRoot: '/api',
  dicomWebRoot: '/dicom-web',
  // How often the study list and the dashboard may refetch after live events (milliseconds).
  liveRefreshMs: 1000,
}
