// A pool password on the command line is readable by every user of the machine (ps): still accepted
// where a command took it, with a warning; the environment is silent.
import { PassThrough } from 'node:stream'
import { afterEach, describe, expect, it } from 'vitest'
import { PASSWORD_FLAG_WARNING, poolPassword } from './backup-common.js'

function capture(): { stream: PassThrough; text: () => string } {
  const stream = new PassThrough()
  let text = ''
  stream.on('data', (chunk: Buffer) => (text += chunk.toString()))
  return { stream, text: () => text }
}

describe('poolPassword', () => {
  const saved = process.env.STRATA_XAPI_PASSWORD
  afterEach(() => {
    if (saved === undefined) delete process.env.STRATA_XAPI_PASSWORD
    else process.env.STRATA_XAPI_PASSWORD = saved
  })

  it('warns that --password is visible to every user of the machine', async () => {
    const err = capture()
    const args = { positionals: [], values: { password: 'hunter2-secret' } }
    expect(await poolPassword(args, err.stream)).toBe('hunter2-secret')
    expect(err.text()).toBe(`${PASSWORD_FLAG_WARNING}\n`)
    expect(err.text()).toContain('STRATA_XAPI_PASSWORD')
    expect(err.text()).not.toContain('hunter2-secret')
  })

  it('takes STRATA_XAPI_PASSWORD without a word', async () => {
    process.env.STRATA_XAPI_PASSWORD = 'from-the-environment'
    const err = capture()
    expect(await poolPassword({ positionals: [], values: {} }, err.stream)).toBe('from-the-environment')
    expect(err.text()).toBe('')
  })
})
