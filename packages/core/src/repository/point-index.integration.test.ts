// The point index on S3 (radosgw): the same cases as on a local directory (point-index.test.ts), through
// every wrapper openStore stacks, with small listing pages so that the index's listing spans several.
import { requireBinary, createTestBucket, s3Env, s3Location, useS3Server } from '../testing/index.js'
import { openStore } from '../storage/index.js'
import { describePointIndexCases } from './testing/point-index-cases.js'

requireBinary('radosgw')
const server = useS3Server()
const bucket = await createTestBucket(server, 'strata-point-index')
let n = 0

describePointIndexCases('S3 (radosgw)', () =>
  openStore(s3Location(server, bucket, `repo-${n++}`), s3Env(server), {
    logger: () => undefined,
    s3: { listPageSize: 4 },
  }),
)
