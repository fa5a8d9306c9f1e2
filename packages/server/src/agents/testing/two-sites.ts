// Two sites for the agents' tests: site A is this process's network namespace, site B a namespace made
// here, joined to A by one veth pair (10.231.N.1 on A's end, 10.231.N.2 on B's). Everything between the
// sites crosses that pair, whose counters say how many bytes did. Needs root (`ip netns`).
import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { promisify } from 'node:util'

const run = promisify(execFile)

export interface TwoSites {
  readonly ns: string
  readonly addressA: string
  readonly addressB: string
  /** Bytes through A's end of the veth (both ways). */
  crossed(): Promise<number>
  /** Brings the veth down (the sites cut off from each other) or up again. */
  link(up: boolean): Promise<void>
  /** A process in site B. */
  spawnInB(argv: string[], env: Record<string, string>): ChildProcess
  close(): Promise<void>
}

export async function makeTwoSites(): Promise<TwoSites> {
  const tag = randomBytes(3).toString('hex')
  const ns = `strata-b-${tag}`
  const [vethA, vethB] = [`sa${tag}`, `sb${tag}`]
  const net = 1 + (randomBytes(1)[0]! % 250)
  const [addressA, addressB] = [`10.231.${net}.1`, `10.231.${net}.2`]
  const ip = (...args: string[]) => run('ip', args)
  const close = async () => {
    await ip('netns', 'del', ns).catch(() => undefined) // takes B's end, and so the pair, with it
    await ip('link', 'del', vethA).catch(() => undefined)
  }
  try {
    await ip('netns', 'add', ns)
    await ip('link', 'add', vethA, 'type', 'veth', 'peer', 'name', vethB)
    await ip('link', 'set', vethB, 'netns', ns)
    await ip('addr', 'add', `${addressA}/24`, 'dev', vethA)
    await ip('link', 'set', vethA, 'up')
    await ip('-n', ns, 'addr', 'add', `${addressB}/24`, 'dev', vethB)
    await ip('-n', ns, 'link', 'set', vethB, 'up')
    await ip('-n', ns, 'link', 'set', 'lo', 'up')
  } catch (error) {
    await close()
    throw error
  }
  const counter = async (name: string) =>
    Number((await readFile(`/sys/class/net/${vethA}/statistics/${name}`, 'utf8')).trim())
  return {
    ns,
    addressA,
    addressB,
    link: async (up) => void (await ip('link', 'set', vethA, up ? 'up' : 'down')),
    crossed: async () => (await counter('rx_bytes')) + (await counter('tx_bytes')),
    spawnInB: (argv, env) =>
      spawn('ip', ['netns', 'exec', ns, ...argv], {
        env: { ...process.env, ...env },
        stdio: ['ignore', 'pipe', 'pipe'],
      }),
    close,
  }
}
