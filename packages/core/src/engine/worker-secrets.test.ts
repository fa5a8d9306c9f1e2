import { describe, expect, it } from 'vitest'
import { slotEnv, slotSecrets } from './worker-secrets.js'

describe('worker secrets by slot', () => {
  it('give one repository its own secrets and none of the others', () => {
    const env = {
      PATH: '/bin',
      STRATA_PASSPHRASE: 'the job',
      STRATA_S3_ACCESS_KEY_ID: 'job-key',
      ...slotSecrets(0, { s3: { accessKeyId: 'k0', secretAccessKey: 's0' } }),
      ...slotSecrets(1, { passphrase: 'one' }),
    }
    expect(slotEnv(env, 0)).toEqual({
      PATH: '/bin',
      STRATA_S3_ACCESS_KEY_ID: 'k0',
      STRATA_S3_SECRET_ACCESS_KEY: 's0',
    })
    expect(slotEnv(env, 1)).toEqual({ PATH: '/bin', STRATA_PASSPHRASE: 'one' })
    expect(slotEnv(env, 2)).toEqual({ PATH: '/bin' })
  })
})
