/** What the toolbar and the keyboard do to a stack viewport: window presets, invert, zoom, rotate, flip, cine. */
import { utilities as csUtils } from '@cornerstonejs/core'
import { loadedTools, stackViewport } from './cornerstone'

export interface WindowPreset {
  id: string
  label: string
  center: number
  width: number
}

/** CT window presets in Hounsfield units (center / width), as commonly used in radiology reading rooms. */
export const CT_PRESETS: readonly WindowPreset[] = [
  { id: 'brain', label: 'Brain', center: 40, width: 80 },
  { id: 'lung', label: 'Lung', center: -600, width: 1500 },
  { id: 'bone', label: 'Bone', center: 400, width: 1800 },
  { id: 'abdomen', label: 'Abdomen', center: 50, width: 400 },
  { id: 'mediastinum', label: 'Mediastinum', center: 50, width: 350 },
]

export function applyWindow(index: number, center: number, width: number): void {
  const vp = stackViewport(index)
  if (!vp) return
  vp.setProperties({ voiRange: csUtils.windowLevel.toLowHighRange(width, center) })
  vp.render()
}

/** The window from the file (Window Center/Width) or, when it has none, the one computed from the pixels. */
export function defaultWindow(index: number): void {
  const vp = stackViewport(index)
  if (!vp) return
  const invert = vp.getProperties().invert
  vp.resetProperties()
  if (invert) vp.setProperties({ invert })
  vp.render()
}

export function toggleInvert(index: number): void {
  const vp = stackViewport(index)
  if (!vp) return
  vp.setProperties({ invert: !vp.getProperties().invert })
  vp.render()
}

export function zoomBy(index: number, factor: number): void {
  const vp = stackViewport(index)
  if (!vp) return
  vp.setZoom(vp.getZoom() * factor)
  vp.render()
}

/** Fit the image to the viewport again (zoom and pan), keeping rotation and flips. */
export function fit(index: number): void {
  const vp = stackViewport(index)
  if (!vp) return
  const { rotation = 0, flipHorizontal = false, flipVertical = false } = vp.getViewPresentation()
  vp.resetCamera()
  if (rotation || flipHorizontal || flipVertical) vp.setViewPresentation({ rotation, flipHorizontal, flipVertical })
  vp.render()
}

export function rotate(index: number, degrees: number): void {
  const vp = stackViewport(index)
  if (!vp) return
  const current = vp.getViewPresentation().rotation ?? 0
  vp.setViewPresentation({ rotation: (((current + degrees) % 360) + 360) % 360 })
  vp.render()
}

export function flip(index: number, direction: 'horizontal' | 'vertical'): void {
  const vp = stackViewport(index)
  if (!vp) return
  const cam = vp.getCamera()
  if (direction === 'horizontal') vp.setCamera({ flipHorizontal: !cam.flipHorizontal })
  else vp.setCamera({ flipVertical: !cam.flipVertical })
  vp.render()
}

/** Camera (zoom, pan, rotation, flips) and display (window, invert) back to how the image first appeared. */
export function reset(index: number): void {
  const vp = stackViewport(index)
  if (!vp) return
  vp.resetCamera()
  // The CPU renderer's camera reset keeps rotation and flips: clear them explicitly.
  vp.setViewPresentation({ rotation: 0, flipHorizontal: false, flipVertical: false })
  vp.resetProperties()
  vp.render()
}

export async function goToSlice(index: number, slice: number): Promise<void> {
  const vp = stackViewport(index)
  if (!vp) return
  const n = vp.getImageIds().length
  if (!n) return
  const target = Math.max(0, Math.min(n - 1, slice))
  if (target !== vp.getCurrentImageIdIndex()) await vp.setImageIdIndex(target)
}

export async function scrollBy(index: number, delta: number): Promise<void> {
  const vp = stackViewport(index)
  if (!vp) return
  await goToSlice(index, vp.getCurrentImageIdIndex() + delta)
}

/** Play the stack as a loop; false when it cannot (one image, or the tools are not loaded yet). */
export function startCine(index: number, framesPerSecond: number): boolean {
  const vp = stackViewport(index)
  const tools = loadedTools()
  if (!vp || !tools || vp.getImageIds().length < 2) return false
  tools.cine.playClip(vp.element as HTMLDivElement, { framesPerSecond, loop: true })
  return true
}

export function stopCine(index: number): void {
  const vp = stackViewport(index)
  const tools = loadedTools()
  if (!vp || !tools) return
  tools.cine.stopClip(vp.element as HTMLDivElement)
}
