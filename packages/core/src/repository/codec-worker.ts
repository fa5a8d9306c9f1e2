// A worker thread of the codec pool: chunk ids, encoding and decoding of objects, off the main thread.
// Requests and replies are codec-pool.ts's; errors go back with their code and message.
import { parentPort } from 'node:worker_threads'
import { StrataError } from '../shared/errors.js'
import { chunkIdFunction } from './crypto/chunk-id.js'
import { decodeObjectInto, encodeObject, encodeObjectInto } from './object-codec.js'
import type { CodecReply, CodecRequest } from './codec-protocol.js'
import { sha256Of, transferable } from './codec-protocol.js'

const port = parentPort!

port.on('message', (request: CodecRequest) => {
  let reply: CodecReply
  try {
    const result = run(request)
    const sha256 = request.op === 'encode' && request.sha256 === true ? sha256Of(result) : undefined
    reply = { id: request.id, result, sha256 }
    port.postMessage(reply, transferable(result))
  } catch (error) {
    reply = {
      id: request.id,
      error: {
        code: error instanceof StrataError ? error.code : 'INTERNAL',
        message: error instanceof Error ? error.message : String(error),
      },
    }
    port.postMessage(reply)
  }
})

function run(request: CodecRequest): Uint8Array {
  switch (request.op) {
    case 'id':
      return chunkIdFunction(request.idKey)(request.data)
    case 'encode': {
      const options = { dataKey: request.dataKey, level: request.level }
      if (request.out === undefined) return encodeObject(request.kind, request.data, request.binding, options)
      const { out } = request
      const length = encodeObjectInto(out, request.kind, request.data, request.binding, options)
      return out.subarray(0, length) // still the shared memory: nothing is copied back
    }
    case 'decode': {
      const { out, data, kind, binding, dataKey, what } = request
      return out.subarray(0, decodeObjectInto(out, data, kind, binding, dataKey, what))
    }
  }
}
