/**
 * Cornerstone3D set-up for the viewer: the library, the DICOM image loader (`wadors:` image ids, decoding in
 * web workers with the wasm codecs) and one rendering engine per viewer page. The tools (and the page's tool
 * group) come later, from their own chunk (tools.ts, loadTools): the first image does not need them.
 */
import {
  Enums as csEnums,
  RenderingEngine,
  getRenderingEngine,
  getWebWorkerManager,
  init as csInit,
  isCornerstoneInitialized,
  metaData,
  type Types,
} from '@cornerstonejs/core'
import { internal as loaderInternal, wadors, wadouri } from '@cornerstonejs/dicom-image-loader'
import type { DicomJson, SeriesImages } from '../../api/dicomweb'
import { prefetchedFrame, startDecodeWorker, takeEarlyDecodeWorker } from './prefetch'

export const RENDERING_ENGINE_ID = 'pacs-viewer'
export const TOOL_GROUP_ID = 'pacs-viewer-tools'
export const MAX_VIEWPORTS = 4

export const viewportIdFor = (index: number) => `vp-${index}`

/** The tools a person can put on the left mouse button (Cornerstone's tool names; tools.ts checks them). */
export const PRIMARY_TOOLS = {
  windowLevel: 'WindowLevel',
  pan: 'Pan',
  zoom: 'Zoom',
  length: 'Length',
  angle: 'Angle',
  rectangle: 'RectangleROI',
  ellipse: 'EllipticalROI',
} as const
export type PrimaryTool = keyof typeof PRIMARY_TOOLS

export const MEASUREMENT_TOOLS: readonly string[] = ['Length', 'Angle', 'RectangleROI', 'EllipticalROI']
export const STACK_SCROLL_TOOL = 'StackScroll'

export type ViewerTools = typeof import('./tools')
let toolsModule: ViewerTools | null = null
let toolsLoading: Promise<ViewerTools> | null = null

/** Load and start the tools chunk (once); the viewer page asks for it when its first image is shown. */
export function loadTools(): Promise<ViewerTools> {
  toolsLoading ??= import('./tools').then(
    (m) => {
      m.startTools()
      toolsModule = m
      performance.mark?.('viewer:tools-loaded')
      return m
    },
    (e: unknown) => {
      toolsLoading = null // a later call tries again
      throw e
    },
  )
  return toolsLoading
}

/** The tools, if they are loaded. */
export function loadedTools(): ViewerTools | null {
  return toolsModule
}

let initialised = false

/** The WebGL renderer's name and whether it is WebGL2; null when there is no WebGL at all. */
function webglRenderer(): { renderer: string; webgl2: boolean } | null {
  try {
    const canvas = document.createElement('canvas')
    const gl2 = canvas.getContext('webgl2')
    const gl = gl2 ?? canvas.getContext('webgl')
    if (!gl) return null
    const info = gl.getExtension('WEBGL_debug_renderer_info')
    const renderer = String(info ? gl.getParameter(info.UNMASKED_RENDERER_WEBGL) : gl.getParameter(gl.RENDERER))
    gl.getExtension('WEBGL_lose_context')?.loseContext()
    return { renderer, webgl2: Boolean(gl2) }
  } catch {
    return null
  }
}

const SOFTWARE_RENDERER = /swiftshader|llvmpipe|software|softpipe/i

/** The WebGL renderer is a software one (SwiftShader, llvmpipe …): no GPU behind it. */
export function softwareWebGL(): boolean {
  const gl = webglRenderer()
  return !gl || !gl.webgl2 || SOFTWARE_RENDERER.test(gl.renderer)
}

/**
 * Cornerstone's init() probes which texture formats the GPU can filter (tens of ms of WebGL calls on a software
 * renderer), unless its localStorage cache already holds the answer for this renderer. Drawing on the CPU needs no
 * texture at all, so when the viewer draws on the CPU, init() is given a cache entry that says "none" and the entry
 * is removed right after, so a later GPU session still probes. Keyed like core's utilities/renderingCapabilities
 * (probe version 1); if that format changes, core ignores the entry and probes as before.
 */
const CAPABILITIES_KEY = 'cornerstone3D.renderingCapabilities'

function initWithoutTextureProbe(config: Parameters<typeof csInit>[0]): void {
  const gl = webglRenderer()
  let seeded = false
  try {
    if (gl && !window.localStorage.getItem(CAPABILITIES_KEY)) {
      const none = { norm16: false, norm16Linear: false, float: false, floatLinear: false, halfFloat: false, halfFloatLinear: false }
      const entry = { probeVersion: 1, renderer: gl.renderer, webgl2: gl.webgl2, formats: none }
      window.localStorage.setItem(CAPABILITIES_KEY, JSON.stringify(entry))
      seeded = true
    }
  } catch {
    /* no localStorage: core probes */
  }
  try {
    csInit(config)
  } finally {
    if (seeded) window.localStorage.removeItem(CAPABILITIES_KEY)
  }
}

type RenderMode = 'auto' | 'gpu' | 'cpu'

/**
 * How stack images are drawn: on the GPU (WebGL), or with Cornerstone's CPU path when the only WebGL there is
 * is a software emulation ('auto'). `?render=gpu|cpu` in the URL or `window.config.viewerRendering` overrides.
 */
function renderingConfig(): Parameters<typeof csInit>[0] {
  const fromUrl = new URLSearchParams(window.location.search).get('render')
  const fromConfig = (window.config as { viewerRendering?: string } | undefined)?.viewerRendering
  const wanted = (fromUrl ?? fromConfig ?? 'auto') as RenderMode
  const cpu = wanted === 'cpu' || (wanted === 'auto' && softwareWebGL())
  const tiled = new URLSearchParams(window.location.search).get('engine') === 'tiled'
  return {
    rendering: {
      useCPURendering: cpu,
      ...(tiled ? { renderingEngineMode: 'tiled' as const } : {}),
    },
  } as Parameters<typeof csInit>[0]
}

/**
 * The first frame's bytes fetched while this chunk loaded (prefetch.ts), offered to the `wadors:` loader through
 * its compressed-frame registry (the loader asks the metadata providers for 'compressedFrameData' before going to
 * the network, and decodes what it gets as if it had fetched it).
 */
function prefetchedFrameProvider(type: string, imageId: string): unknown {
  if (type !== 'compressedFrameData' || typeof imageId !== 'string') return undefined
  const frame = prefetchedFrame(imageId)
  return frame ? { transferSyntaxUid: frame.transferSyntaxUID, pixelData: frame.pixelData } : undefined
}

/**
 * What the image loader's init() does (dicom-image-loader 5.x, init.js: options, the wadors/wadouri loaders and
 * their metadata providers, the 'dicomImageLoader' worker pool), except that the pool's first worker is the one
 * prefetch.ts started with the archive requests, already compiled by now. (init() also purges the loader's
 * caches, which are empty on a page's first initialisation.)
 */
function initImageLoader(maxWebWorkers: number): void {
  const options = { maxWebWorkers }
  loaderInternal.setOptions(options)
  wadors.register()
  wadouri.register()
  getWebWorkerManager().registerWorker('dicomImageLoader', () => takeEarlyDecodeWorker() ?? startDecodeWorker(), {
    maxWorkerInstances: maxWebWorkers,
  })
}

/** Initialise Cornerstone3D and the DICOM image loader, once per page load (throws when it cannot). */
export function initCornerstone(): void {
  if (initialised) return
  performance.mark?.('viewer:init-start')
  if (!isCornerstoneInitialized()) {
    const config = renderingConfig()
    if (config?.rendering?.useCPURendering) initWithoutTextureProbe(config)
    else csInit(config)
  }
  performance.mark?.('viewer:core-init')
  const cores = navigator.hardwareConcurrency || 2
  initImageLoader(Math.max(1, Math.min(4, cores - 1)))
  metaData.addProvider(prefetchedFrameProvider, 10_000)
  initialised = true
  performance.mark?.('viewer:loader-init')
}

/** Register a series' WADO-RS metadata with the loader's metadata provider (one entry per instance). */
export function registerSeriesMetadata(series: SeriesImages): void {
  const bySop = new Map<string, DicomJson>()
  for (const ds of series.instances) {
    const sop = ds['00080018']?.Value?.[0]
    if (typeof sop === 'string') bySop.set(sop, ds)
  }
  for (const f of series.frames) {
    // Multi-frame instances are looked up through their first frame's id (the loader combines per-frame data).
    if (f.frame !== 1) continue
    const ds = bySop.get(f.sopInstanceUID)
    if (ds) wadors.metaDataManager.add(f.imageId, ds as unknown as Parameters<typeof wadors.metaDataManager.add>[1])
  }
}

/** The rendering engine of a viewer page; call the returned function to tear it down (tool group included). */
export function createViewerEngine(): () => void {
  getRenderingEngine(RENDERING_ENGINE_ID)?.destroy()
  toolsModule?.destroyToolGroup()
  new RenderingEngine(RENDERING_ENGINE_ID)
  return () => {
    const re = getRenderingEngine(RENDERING_ENGINE_ID)
    const tools = toolsModule
    if (tools) {
      for (const vp of re?.getViewports() ?? []) {
        // Stop what keeps running on a viewport's element: cine timers and the prefetcher's listeners.
        tools.cine.stopClip(vp.element as HTMLDivElement)
        tools.stackPrefetch.disable(vp.element)
      }
      tools.destroyToolGroup()
    }
    re?.destroy()
  }
}

export function engine(): RenderingEngine | undefined {
  return getRenderingEngine(RENDERING_ENGINE_ID)
}

export function stackViewport(index: number): Types.IStackViewport | undefined {
  const vp = engine()?.getViewport(viewportIdFor(index))
  return vp && vp.type === csEnums.ViewportType.STACK ? (vp as Types.IStackViewport) : undefined
}
