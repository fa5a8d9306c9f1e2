// Helpers of the "several hosts, one repository" test (repo-gc-hosts.integration.test.ts): the built CLI
// run as a process of its own (a host, or the GC's), disk contents that make backups borrow chunks that
// retention has just made garbage, and a host's loop of backups.
import { spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { writeFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import type { LabPool } from '@strata/lab'

const BIN = fileURLToPath(new URL('../../bin/strata.js', import.meta.url))
const CHILD_TIMEOUT_MS = 120_000

export interface ProcessResult {
  readonly code: number | null
  readonly out: string
  readonly err: string
}

/** `strata ARGS` from dist/, in a process of its own; a process running past the timeout is killed. */
export function strataProcess(args: readonly string[], env: Record<string, string>): Promise<ProcessResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let out = ''
    let err = ''
    child.stdout.on('data', (d: Buffer) => (out += d.toString()))
    child.stderr.on('data', (d: Buffer) => (err += d.toString()))
    const timer = setTimeout(() => child.kill('SIGKILL'), CHILD_TIMEOUT_MS)
    child.on('error', reject)
    child.on('close', (code) => {
      clearTimeout(timer)
      resolve({ code, out, err })
    })
  })
}

/**
 * A disk's contents for one run: `generation` picks one of a few contents that recur, so that a backup
 * stores again the chunks of a point retention deleted a moment ago (which GC may be sweeping). Even
 * chunks are the same on every VM (hosts dedup across each other), odd ones the VM's own; the first
 * chunk is the run's own, so that every backup also creates a chunk.
 */
export function diskContents(
  vm: string,
  generation: number,
  run: number,
  size: number,
  chunk: number,
): Buffer {
  const disk = Buffer.alloc(size)
  for (let offset = 0, i = 0; offset < size; offset += chunk, i++) {
    const seed =
      i === 0 ? `run/${vm}/${run}` : i % 2 === 0 ? `shared/${generation}/${i}` : `${vm}/${generation}/${i}`
    fill(disk.subarray(offset, offset + chunk), seed)
  }
  return disk
}

function fill(target: Buffer, seed: string): void {
  for (let o = 0, n = 0; o < target.length; o += 32, n++)
    createHash('sha256').update(`${seed}/${n}`).digest().copy(target, o)
}

export function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex')
}

export interface Host {
  readonly name: string
  readonly lab: LabPool
  readonly vms: readonly string[]
  readonly jobFile: string
  readonly dataDir: string
}

export interface PointRecord {
  readonly host: string
  readonly vm: string
  readonly pointId: string
  /** SHA-256 of the VM's disk when the backup started. */
  readonly digest: string
}

interface RunJson {
  status: string
  seconds: number
  vms: { name: string; status: string; attempts: number; result?: { points: { pointId: string }[] } }[]
}

/** Writes the host's job file: its pool, its VMs, the shared repository, keep the last `keep` points. */
export async function writeHostJob(host: Host, location: string, keep: number): Promise<void> {
  const job = {
    id: `host-${host.name}`,
    name: `backups of host ${host.name}`,
    pools: [{ id: 'pool', url: host.lab.url, user: host.lab.user, fingerprint: host.lab.fingerprint }],
    vms: host.vms,
    repositories: [{ name: 'shared', location }],
    schedules: [{ id: 'often', retention: { keepLast: keep } }],
  }
  await writeFile(host.jobFile, JSON.stringify(job))
}

/**
 * One backup run of the host's job by the built CLI, after giving each VM's disk the contents of
 * `generation`; the points it committed, with the digests their disks had.
 */
export async function backupOnce(
  host: Host,
  env: Record<string, string>,
  generation: number,
  run: number,
  chunk: number,
): Promise<{ points: PointRecord[]; attempts: number; seconds: number }> {
  const digests = new Map<string, string>()
  for (const vm of host.vms) {
    const vdi = host.lab.guest.disks(host.lab.ref('VM', vm))[0]!
    const size = (await host.lab.readDisk(vdi)).length
    await host.lab.guest.write(vdi, 0, diskContents(vm, generation, run, size, chunk))
    digests.set(vm, sha256(await host.lab.readDisk(vdi)))
  }
  const args = ['backup', 'run', host.jobFile, '--schedule', 'often', '--data-dir', host.dataDir, '--json']
  const { code, out, err } = await strataProcess(args, { ...env, STRATA_XAPI_PASSWORD: host.lab.password })
  if (code !== 0) throw new Error(`host ${host.name}: backup run exited ${code}: ${out}\n${err}`)
  const result = JSON.parse(out) as RunJson
  const points = result.vms.flatMap((v) =>
    (v.result?.points ?? []).map((p) => ({
      host: host.name,
      vm: v.name,
      pointId: p.pointId,
      digest: digests.get(v.name)!,
    })),
  )
  return { points, attempts: Math.max(...result.vms.map((v) => v.attempts)), seconds: result.seconds }
}
