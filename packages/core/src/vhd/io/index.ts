// File I/O for the VHD codec: file sources, parent discovery, atomic sparse outputs, conversions.
export * from './file-access.js'
export * from './open-chain.js'
export * from './output.js'
export * from './file-stream.js'
export * from './convert.js'
