/** Viewport layouts: name → number of viewports. */
export type Layout = '1x1' | '1x2' | '2x2'
export const LAYOUTS: Record<Layout, number> = { '1x1': 1, '1x2': 2, '2x2': 4 }
