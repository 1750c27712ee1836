/**
 * Stands in for vtk.js's XML PolyData (.vtp) reader in the viewer's bundle. Cornerstone's core imports that reader
 * for one thing, loading surface meshes from .vtp files (core's cache Mesh, tools' OrientationMarkerTool), which
 * this viewer never does; with it come xmlbuilder2, js-yaml and a DOM implementation, ~300 kB the browser would
 * download, parse and run before the first image. Aliased in vite.config.ts; anything that does ask for a .vtp
 * reader gets a clear error instead of a silent no-op.
 */
const vtkXMLPolyDataReader = {
  newInstance(): never {
    throw new Error('This viewer build cannot read .vtp meshes (see features/viewer/vtpReaderStub.ts)')
  },
}

export default vtkXMLPolyDataReader
