import { createServer, type Socket } from 'node:net'
import { describe, expect, it } from 'vitest'
import { scratchDir } from '@strata/core/testing'
import { main } from './main.js'
import { runCli, startCli } from './testing/cli-harness.js'

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

  it('leaves no signal listener behind once a command given no signal of its own ended', async () => {
    const before = ['SIGINT', 'SIGTERM'].map((s) => process.listenerCount(s))
    const sink = { write: () => true } as never
    for (let i = 0; i < 3; i++) expect(await main(['version'], { stdout: sink, stderr: sink })).toBe(0)
    expect(['SIGINT', 'SIGTERM'].map((s) => process.listenerCount(s))).toEqual(before)
  })

  it('reports Ctrl-C as "interrupted by the user" with exit code 130, whatever the command was doing', async () => {
    // A pool that accepts connections and never answers: the commands wait on it until interrupted (plain
    // HTTP, allowed as such, so that nothing stops them before they wait on it).
    const sockets: Socket[] = []
    const pool = createServer((s) => sockets.push(s))
    await new Promise<void>((resolve) => pool.listen(0, '127.0.0.1', resolve))
    const url = `http://127.0.0.1:${(pool.address() as { port: number }).port}`
    await using dir = await scratchDir()
    const repo = dir.path('repo')
    expect((await run(['repo', 'init', '--repo', repo])).code).toBe(0)
    process.env.STRATA_XAPI_PASSWORD = 'secret'
    try {
      for (const argv of [
        ['pool', 'vms', '--pool', url, '--insecure-http'],
        [
          'backup',
          'run',
          '--pool',
          url,
          '--insecure-http',
          '--vm',
          'web-01',
          '--repo',
          repo,
          '--data-dir',
          dir.path('data'),
        ],
      ]) {
        const controller = new AbortController()
        const seen = sockets.length
        const { io, done } = startCli(argv, controller.signal)
        const deadline = Date.now() + 20_000
        while (sockets.length === seen && Date.now() < deadline && io.err === '')
          await new Promise((r) => setTimeout(r, 20))
        controller.abort()
        const code = await done
        expect([argv[1], code], io.err).toEqual([argv[1], 130])
        expect(io.err.split('\n').filter((l) => l.startsWith('strata:'))).toEqual([
          'strata: interrupted by the user',
        ])
      }
    } finally {
      delete process.env.STRATA_XAPI_PASSWORD
      sockets.forEach((s) => s.destroy())
      pool.close()
    }
  })
})
