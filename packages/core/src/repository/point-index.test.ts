// The point index on a local directory (the S3 run is point-index.integration.test.ts).
import { afterAll } from 'vitest'
import { LocalStore } from '../storage/index.js'
import { scratchDir } from '../testing/index.js'
import { describePointIndexCases } from './testing/point-index-cases.js'

const scratch = await scratchDir('strata-point-index-')
afterAll(() => scratch[Symbol.asyncDispose]())
let n = 0

describePointIndexCases('a local directory', async () => new LocalStore(scratch.path(`repo-${n++}`)))
