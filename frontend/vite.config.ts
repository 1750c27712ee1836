import { createReadStream, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { gzipSync } from 'node:zlib'

import react from '@vitejs/plugin-react'
import { defineConfig, type Plugin, type ProxyOptions } from 'vite'

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

/**
 * The portal's scripts gzipped once at build time (level 9, `<file>.js.gz` beside each), and `vite preview`
 * (make run, the e2e tests and the benchmarks) serving those files as they are. Without this, preview gzips every
 * response on the fly: the 2.8 MB viewer chunk costs the server ~70-90 ms of CPU on each cold open, on the same
 * two cores as the browser, and the browser receives it only as fast as it is compressed. (nginx in the container
 * image can serve the same files with `gzip_static on`.)
 */
function precompressedScripts(): Plugin {
  return {
    name: 'pacs:precompressed-scripts',
    writeBundle(options) {
      const dir = join(options.dir ?? 'dist', 'assets')
      for (const name of readdirSync(dir)) {
        if (!name.endsWith('.js')) continue
        const source = readFileSync(join(dir, name))
        if (source.length > 10_000) writeFileSync(join(dir, `${name}.gz`), gzipSync(source, { level: 9 }))
      }
    },
    configurePreviewServer(server) {
      const dist = resolve(server.config.root, server.config.build.outDir)
      server.middlewares.use((req, res, next) => {
        const path = (req.url ?? '').split('?')[0]
        if (!/^\/assets\/[\w.-]+\.js$/.test(path) || !/\bgzip\b/.test(String(req.headers['accept-encoding']))) {
          return next()
        }
        const file = join(dist, `${path}.gz`)
        let stat
        try {
          stat = statSync(file)
        } catch {
          return next()
        }
        const etag = `W/"gz-${stat.size}-${stat.mtime.getTime()}"`
        res.setHeader('Vary', 'Accept-Encoding')
        res.setHeader('Cache-Control', 'no-cache')
        res.setHeader('ETag', etag)
        if (req.headers['if-none-match'] === etag) {
          res.statusCode = 304
          return res.end()
        }
        res.setHeader('Content-Type', 'text/javascript')
        res.setHeader('Content-Encoding', 'gzip')
        res.setHeader('Content-Length', String(stat.size))
        createReadStream(file).pipe(res)
      })
    },
  }
}

export default defineConfig({
  plugins: [react(), precompressedScripts()],
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
