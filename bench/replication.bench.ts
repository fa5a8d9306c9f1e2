// npm run bench -- replication: a delta replication run beside a delta backup run of the same lab VM after
// the same change, in the same run (issue 21: replication must cost no more than 1.2x the backup's time).
// The VM's disk (STRATA_BENCH_GIB, default 2 GiB; mixed content as in the backup bench) is first backed
// up in full to an encrypted repository (zstd level 1) and replicated in full to the pool's SR; then, each
// round, 5 % of its 2 MiB blocks get a 256 KiB write and both run again: the backup reads the changed
// blocks over NBD into the repository, the replication reads the same 64 KiB runs (CBT's) over NBD and
// writes them into a clone of the replica's disk through a chunked raw import (a frame per run), then
// snapshots the replica (its restore point).
// The lab runs in its own process (bench/backup-lab.ts).
import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { rm } from 'node:fs/promises'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { backupVm, createPoolLimits, replicateVm } from '@strata/core/engine'
import { Repository } from '@strata/core/repository'
import { allowManyListeners, silentTask } from '@strata/core/shared'
import { LocalStore } from '@strata/core/storage'
import { XapiClient } from '@strata/core/xapi'
import { median } from './harness.js'
import { phaseTrace, profileSelf } from './phase-trace.js'
import { tlsReceiveFloor } from './tls-floor.js'

const GIB = Number(process.env.STRATA_BENCH_GIB ?? 2)
const ROUNDS = Number(process.env.STRATA_BENCH_ROUNDS ?? 3)
const LIMIT = 1.2
const PHASES = process.env.STRATA_BENCH_PHASES === '1'
// STRATA_BENCH_PROFILE=dir: a CPU profile of the lab during each delta run, as dir/lab-<kind>-<round>.cpuprofile.
const PROFILE = process.env.STRATA_BENCH_PROFILE
const root = fileURLToPath(new URL('..', import.meta.url))
const dir = join(root, '.strata', 'bench', 'replication')

async function startLab() {
  const child = spawn(
    process.execPath,
    ['--conditions=strata-source', '--import', 'tsx', join(root, 'bench/backup-lab.ts')],
    { stdio: ['pipe', 'pipe', 'inherit'], env: { ...process.env, STRATA_BENCH_GIB: String(GIB) } },
  )
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]()
  const next = async () => JSON.parse(String((await lines.next()).value)) as Record<string, string>
  const ask = async (o: unknown) => (child.stdin.write(`${JSON.stringify(o)}\n`), next())
  const stop = () => ask({ cmd: 'exit' }).catch(() => undefined)
  return { ready: await next(), ask, stop, cpu: () => processCpu(child.pid) }
}

/** CPU seconds (user + system) a process used so far, from /proc (Linux); NaN elsewhere. */
function processCpu(pid: number | undefined): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')
    return (Number(fields[11]) + Number(fields[12])) / 100 // clock ticks of 1/100 s
  } catch {
    return Number.NaN
  }
}

/**
 * Wall time, and the CPU both processes spent (this one, the engine; the lab's): on a shared machine the
 * wall time follows the load, the CPU what each run costs.
 */
async function timed<T>(
  lab: { cpu: () => number },
  fn: () => Promise<T>,
): Promise<{ seconds: number; cpu: { engine: number; lab: number }; value: T }> {
  const start = performance.now()
  const [own, labStart] = [process.cpuUsage(), lab.cpu()]
  const value = await fn()
  const used = process.cpuUsage(own)
  const cpu = { engine: (used.user + used.system) / 1e6, lab: lab.cpu() - labStart }
  return { seconds: (performance.now() - start) / 1000, cpu, value }
}

const cpuText = (c: { engine: number; lab: number }) =>
  `CPU ${(c.engine + c.lab).toFixed(2)} s (engine ${c.engine.toFixed(2)}, lab ${c.lab.toFixed(2)})`

const MB = (n: number) => `${(n / 1e6).toFixed(0)} MB`

async function main(): Promise<void> {
  console.log(`starting the lab (a ${GIB} GiB disk)...`)
  const lab = await startLab()
  const { url, fingerprint, user, password, vm, sr } = lab.ready as Record<string, string>
  const xapi = new XapiClient({ url: url!, fingerprint, user: user!, password: password! })
  const limits = createPoolLimits()
  const trace = PHASES ? phaseTrace(xapi) : undefined
  const task = () => trace?.task ?? silentTask(allowManyListeners(new AbortController().signal))
  const phases = () => trace?.report().forEach((line) => console.log(line))
  await rm(dir, { recursive: true, force: true })
  const repo = await Repository.create(new LocalStore(join(dir, 'repo')), {
    passphrase: Buffer.from('bench'),
    compressionLevel: 1,
    weakKdfForTests: { N: 1024, r: 8, p: 1 },
    force: true,
  })
  let n = 0
  const backup = () =>
    backupVm(task(), xapi, limits, vm!, [{ name: 'bench', repository: repo }], {
      runId: `backup-${++n}`,
      jobId: 'bench-backup',
      mode: 'delta',
    })
  const replicate = () =>
    replicateVm(task(), xapi, limits, vm!, [{ poolId: 'lab', xapi, srUuid: sr! }], {
      runId: `replication-${++n}`,
      jobId: 'bench-replication',
      jobName: 'bench',
      scheduleId: 'bench',
      mode: 'delta',
      changedBlocks: 'auto',
      preferNbd: true,
      retention: { policy: { keepLast: 2 }, timeZone: 'UTC' },
    })
  try {
    const firstBackup = await timed(lab, backup)
    const firstReplica = await timed(lab, replicate)
    console.log(
      `first runs (full): backup ${firstBackup.seconds.toFixed(2)} s, replication ${firstReplica.seconds.toFixed(2)} s`,
    )
    const backups: number[] = []
    const replications: number[] = []
    const cpu = { backup: [] as number[], replication: [] as number[] }
    const floors: { seconds: number; cpu: number }[] = []
    for (let round = 1; round <= ROUNDS; round++) {
      const { changed } = await lab.ask({ cmd: 'change', round })
      // Alternate which goes first, so that neither always meets a warmer cache.
      const order = round % 2 === 1 ? ['backup', 'replication'] : ['replication', 'backup']
      for (const which of order) {
        if (PROFILE !== undefined) await lab.ask({ cmd: 'profile-start' })
        const engine = PROFILE === undefined ? undefined : await profileSelf()
        if (which === 'backup') {
          const b = await timed(lab, backup)
          if (b.value.full) throw new Error('the delta backup was a full one')
          backups.push(b.seconds)
          cpu.backup.push(b.cpu.engine + b.cpu.lab)
          console.log(
            `  round ${round}: ${changed} blocks changed; backup ${b.seconds.toFixed(2)} s, read ${MB(b.value.bytesRead)}, stored ${MB(b.value.bytesStored)}; ${cpuText(b.cpu)}`,
          )
          phases()
        } else {
          const r = await timed(lab, replicate)
          if (r.value.full) throw new Error('the delta replication was a full copy')
          replications.push(r.seconds)
          // What the same bytes cost over TLS alone at this moment (see the summary).
          floors.push(await tlsReceiveFloor(join(dir, 'tls-floor'), r.value.bytesSent))
          cpu.replication.push(r.cpu.engine + r.cpu.lab)
          console.log(
            `  round ${round}: ${changed} blocks changed; replication ${r.seconds.toFixed(2)} s, read ${MB(r.value.bytesRead)}, written ${MB(r.value.bytesWritten)}, sent ${MB(r.value.bytesSent)}; ${cpuText(r.cpu)}`,
          )
          phases()
        }
        if (PROFILE !== undefined) {
          await lab.ask({ cmd: 'profile-stop', path: join(PROFILE, `lab-${which}-${round}.cpuprofile`) })
          await engine?.stop(join(PROFILE, `engine-${which}-${round}.cpuprofile`))
        }
      }
    }
    const rep = median(replications)
    const bak = median(backups)
    const ratio = rep / bak
    console.log(`\ndelta run of a ${GIB} GiB VM after the same 5 % change (medians of ${ROUNDS})`)
    console.log(
      `  ${'delta replication (onto the replica VDI + restore point)'.padEnd(58)} ${rep.toFixed(3)} s`,
    )
    console.log(`  ${'delta backup (into an encrypted repository)'.padEnd(58)} ${bak.toFixed(3)} s`)
    console.log(
      `  ratio (replication time / backup time): ${ratio.toFixed(2)}x  (limit ${LIMIT}x: ${ratio <= LIMIT ? 'met' : 'NOT met'})`,
    )
    const [repCpu, bakCpu] = [median(cpu.replication), median(cpu.backup)]
    console.log(
      `  CPU of both processes (medians): replication ${repCpu.toFixed(2)} s, backup ${bakCpu.toFixed(2)} s, ratio ${(repCpu / bakCpu).toFixed(2)}x`,
    )
    // The replication sends its blocks to the target over HTTPS, the backup writes them to a local
    // repository: moving those bytes over TLS between two bare processes is a floor under that part.
    const [floor, floorCpu] = [median(floors.map((f) => f.seconds)), median(floors.map((f) => f.cpu))]
    console.log(
      `  TLS floor: the replication's sent bytes (its chunked uploads) between two bare processes ${floor.toFixed(3)} s (receiver CPU ${floorCpu.toFixed(2)} s)`,
    )
  } finally {
    await xapi.close()
    await lab.stop()
  }
}

await main()
