import { fileURLToPath } from 'node:url'

import react from '@vitejs/plugin-react'
import { defineConfig, type ProxyOptions } from 'vite'

// The portal is a static single-page app; the API and DICOMweb live on the backend (default :8000).
// `vite preview` (make run, e2e tests) and `vite` (dev) proxy them so the browser sees one origin and the app
// can use relative URLs (public/config.js). PACS_API_URL points the proxy elsewhere.
const api = process.env.PACS_API_URL ?? 'http://127.0.0.1:8000'
const proxy: Record<string, ProxyOptions> = {
  '/api': { target: api },
  '/dicom-web': { target: api },
  '/healthz': { target: api },
  '/readyz': { target: api },
}
const port = Number(process.env.PACS_PORTAL_PORT ?? 4200)

// Cornerstone3D: the settings that work for both `vite` and `vite build` (see shared stack notes, section 5).
const IL = '@cornerstonejs/dicom-image-loader'

export default defineConfig({
  plugins: [react()],
  resolve: {
    alias: [
      {
        // Cornerstone's .vtp mesh reader (and the XML stack behind it) is unused here: see vtpReaderStub.ts.
        find: /^@kitware\/vtk\.js\/IO\/XML\/XMLPolyDataReader(\.js)?$/,
        replacement: fileURLToPath(new URL('./src/features/viewer/vtpReaderStub.ts', import.meta.url)),
      },
    ],
  },
  worker: { format: 'es' },
  optimizeDeps: {
    exclude: [IL],
    include: [
      'dicom-parser',
      '@cornerstonejs/core',
      '@cornerstonejs/metadata',
      '@cornerstonejs/utils',
      `${IL} > @cornerstonejs/codec-libjpeg-turbo-8bit/decodewasmjs`,
      `${IL} > @cornerstonejs/codec-charls/decodewasmjs`,
      `${IL} > @cornerstonejs/codec-openjpeg/decodewasmjs`,
      `${IL} > @cornerstonejs/codec-openjph/wasmjs`,
      `${IL} > @cornerstonejs/codec-libjxl/decodewasmjs`,
    ],
  },
  server: { host: '127.0.0.1', port, strictPort: true, proxy },
  preview: { host: process.env.PACS_PORTAL_HOST ?? '127.0.0.1', port, strictPort: true, proxy },
  build: {
    chunkSizeWarningLimit: 4096,
    rolldownOptions: {
      treeshake: {
        // The image loader's package index re-exports its web worker's decode function, which imports every codec's
        // emscripten glue: ~150 kB the viewer chunk would download, parse and run on the main thread for nothing
        // (decoding happens in the worker, bundled apart with all its codecs). Declared free of side effects here,
        // these modules are left out of the main-thread bundle when nothing in it uses them.
        moduleSideEffects: [
          { test: /@cornerstonejs\/dicom-image-loader\/dist\/esm\/decodeImageFrameWorker\.js$/, sideEffects: false },
          { test: /@cornerstonejs\/dicom-image-loader\/dist\/esm\/shared\/decoders\//, sideEffects: false },
          { test: /@cornerstonejs\/codec-/, sideEffects: false },
        ],
      },
    },
  },
})
