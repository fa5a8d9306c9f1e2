// The seam between protocols and the repository. Sources of a VDI snapshot's chunks: NBD (pinned TLS,
// several connections), the VHD export (its BAT names changed blocks; its blocks carry data). Targets of
// a restore point's disk: a VDI (/import_raw_vdi as a sparse VHD), a raw or VHD file. Chunks go to every
// backup target through one ChunkSink, so a source is read once.
export * from './errors.js'
export * from './disk-source.js'
export * from './copy-disk.js'
export * from './chunk-map.js'
export * from './chunk-target.js'
export * from './chunk-sink.js'
export * from './nbd-source.js'
export * from './vhd-source.js'
export * from './vdi-source.js'
export * from './repository-source.js'
export * from './disk-targets.js'
export * from './file-source.js'
export * from './point-source.js'
export * from './vdi-import-sink.js'
