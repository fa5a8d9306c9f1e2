import { describe, expect, it } from 'vitest'
import { runCli } from './testing/cli-harness.js'

const run = (argv: string[]) => runCli(argv)

describe('strata CLI', () => {
  it('prints JSON with --json', async () => {
    const { code, out } = await run(['version', '--json'])
    expect(code).toBe(0)
    expect(JSON.parse(out)).toMatchObject({ version: expect.any(String), node: process.version })
  })

  it('prints the version, the repository format versions it reads and writes, and Node with --version', async () => {
    for (const argv of [
      ['--version', '--json'],
      ['version', '--json'],
    ]) {
      const { code, out } = await run(argv)
      expect(code, argv.join(' ')).toBe(0)
      expect(JSON.parse(out)).toMatchObject({
        version: expect.stringMatching(/^\d+\.\d+\.\d+/),
        repository: {
          format: 'strata-repository',
          reads: [1],
          writes: 1,
          objects: { envelope: { reads: [1], writes: 1 }, index: { reads: [1], writes: 1 } },
        },
        node: process.version,
      })
    }
    const { out } = await run(['--version'])
    expect(out).toMatch(
      /^strata \d+\.\d+\.\d+\nrepository format: strata-repository version 1 \(reads 1, writes 1\)\n/,
    )
    expect(out).toContain(`node ${process.version}`)
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
