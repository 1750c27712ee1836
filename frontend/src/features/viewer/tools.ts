/**
 * Cornerstone3D tools for the viewer (mouse tools, measurements, stack scroll, cine, stack prefetch): a chunk of
 * their own (~400 kB with what they bring), loaded by the viewer page once its first image is on screen, so the
 * first image does not wait for code it does not need (see loadTools in cornerstone.ts).
 */
import {
  AngleTool,
  EllipticalROITool,
  Enums as toolEnums,
  LengthTool,
  PanTool,
  RectangleROITool,
  StackScrollTool,
  ToolGroupManager,
  WindowLevelTool,
  ZoomTool,
  addTool,
  annotation,
  init as toolsInit,
  state as toolsState,
  store as toolsStore,
  utilities as toolUtils,
} from '@cornerstonejs/tools'
import { MEASUREMENT_TOOLS, PRIMARY_TOOLS, RENDERING_ENGINE_ID, STACK_SCROLL_TOOL, TOOL_GROUP_ID, type PrimaryTool } from './cornerstone'

const TOOLS = [
  WindowLevelTool,
  PanTool,
  ZoomTool,
  StackScrollTool,
  LengthTool,
  AngleTool,
  RectangleROITool,
  EllipticalROITool,
]

/** The names the page uses (cornerstone.ts, kept free of this chunk) are the tools' own names. */
function checkNames(): void {
  const ours = [...Object.values(PRIMARY_TOOLS), STACK_SCROLL_TOOL, ...MEASUREMENT_TOOLS]
  const theirs = new Set(TOOLS.map((t) => t.toolName))
  const unknown = ours.filter((n) => !theirs.has(n))
  if (unknown.length) throw new Error(`unknown Cornerstone tool names: ${unknown.join(', ')}`)
}

let started = false

/** Initialise the tools library and register the tools, once per page load. */
export function startTools(): void {
  if (started) return
  checkNames()
  toolsInit()
  for (const tool of TOOLS) addTool(tool)
  started = true
}

/** The page's tool group: W/L on the left button, pan middle, zoom right, scroll on the wheel. */
export function createToolGroup(): void {
  ToolGroupManager.destroyToolGroup(TOOL_GROUP_ID)
  const group = ToolGroupManager.createToolGroup(TOOL_GROUP_ID)
  if (!group) return
  for (const name of [...Object.values(PRIMARY_TOOLS), STACK_SCROLL_TOOL]) group.addTool(name)
  const { MouseBindings } = toolEnums
  group.setToolActive(WindowLevelTool.toolName, { bindings: [{ mouseButton: MouseBindings.Primary }] })
  group.setToolActive(PanTool.toolName, { bindings: [{ mouseButton: MouseBindings.Auxiliary }] })
  group.setToolActive(ZoomTool.toolName, { bindings: [{ mouseButton: MouseBindings.Secondary }] })
  group.setToolActive(StackScrollTool.toolName, { bindings: [{ mouseButton: MouseBindings.Wheel }] })
  for (const name of MEASUREMENT_TOOLS) group.setToolPassive(name)
}

export function destroyToolGroup(): void {
  ToolGroupManager.destroyToolGroup(TOOL_GROUP_ID)
}

/**
 * Let the page's tools act on a viewport (its element enabled in the rendering engine). The tools library hooks
 * its mouse, wheel and keyboard listeners and its SVG layer onto an element when core announces it
 * (ELEMENT_ENABLED); an element enabled before this chunk was loaded missed that, so it is hooked here the same way.
 */
export function attachViewport(viewportId: string, element: HTMLDivElement): void {
  if (!toolsState.enabledElements.includes(element)) {
    const detail = { element, viewportId, renderingEngineId: RENDERING_ENGINE_ID }
    toolsStore.addEnabledElement(new CustomEvent('CORNERSTONE_ELEMENT_ENABLED', { detail }) as never)
  }
  ToolGroupManager.getToolGroup(TOOL_GROUP_ID)?.addViewport(viewportId, RENDERING_ENGINE_ID)
}

export function detachViewport(viewportId: string): void {
  ToolGroupManager.getToolGroup(TOOL_GROUP_ID)?.removeViewports(RENDERING_ENGINE_ID, viewportId)
}

/** Put a tool on the left mouse button; the previous one goes passive (its annotations stay editable). */
export function setPrimaryTool(tool: PrimaryTool): void {
  const group = ToolGroupManager.getToolGroup(TOOL_GROUP_ID)
  if (!group) return
  const { MouseBindings } = toolEnums
  const name = PRIMARY_TOOLS[tool]
  const current = group.getActivePrimaryMouseButtonTool()
  if (current === name) return
  // Passive drops only the primary binding: Pan keeps the middle button, Zoom the right one.
  if (current) group.setToolPassive(current)
  group.setToolActive(name, { bindings: [{ mouseButton: MouseBindings.Primary }] })
}

export const cine = toolUtils.cine
export const stackPrefetch = toolUtils.stackPrefetch

/** The measurements drawn (annotation state) and the events that change them, for the measurement list. */
export const measurements = {
  all: () => annotation.state.getAllAnnotations(),
  remove: (uid: string) => annotation.state.removeAnnotation(uid),
  events: [
    toolEnums.Events.ANNOTATION_COMPLETED,
    toolEnums.Events.ANNOTATION_MODIFIED,
    toolEnums.Events.ANNOTATION_REMOVED,
  ] as string[],
}
