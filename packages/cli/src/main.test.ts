import { describe, expect, it } from 'vitest'
import { runCli } from './testing/cli-harness.js'

const run = (argv: string[]) => runCli(argv)

describe('strata CLI', () => {
  it('prints JSON with --json', async () => {
    const { code, out } = await run(['version', '--json'])
    expect(code).toBe(0)
    expect(JSON.parse(out)).toMatchObject({ version: expect.any(String), node: process.version })
  })

  it('exits 2 with a one-line reason on an unknown command', async () => {
    const { code, err } = await run(['frobnicate'])
    expect(code).toBe(2)
    expect(err.trim().split('\n')).toHaveLength(1)
    expect(err).toContain("unknown command 'frobnicate'")
  })

  it('exits 2 on an unknown option, with a JSON error under --json', async () => {
    const { code, out } = await run(['version', '--bogus', '--json'])
    expect(code).toBe(2)
    expect(JSON.parse(out)).toMatchObject({ error: { code: 'USAGE' } })
  })
})
