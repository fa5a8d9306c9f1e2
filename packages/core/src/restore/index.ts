// Restores beyond whole disks: a restore point's disk served over NBD straight from the repository
// (read-only, or writable through a copy-on-write overlay in memory), and file-level restore through
// libguestfs over that export, with one appliance per browsing session.
export { PointBlockSource, type PointSourceOptions } from './point-source.js'
export { servePoint, type ServePointOptions, type ServedPoint } from './serve-point.js'
