import { describeObjectStoreConformance } from './conformance.js'
import { MemoryStore } from './memory-store.js'
import { wrap } from './open-store.js'

describeObjectStoreConformance('memory', async () => ({ store: new MemoryStore() }))

describeObjectStoreConformance('memory with retry, limits and logging', async () => ({
  store: wrap(new MemoryStore(), { concurrency: 2, writeBytesPerSecond: 1e9, logger: () => undefined }),
}))
