// npm run bench -- backup: the per-VM engine on a lab VM with a 4 GiB disk (deterministic mixed content:
// 40 % zero, 30 % random, 30 % repeated 2 MiB blocks), first run and a run after 5 % of its blocks
// changed, through NBD over TLS, and the first run again over clear-text NBD (the network's purpose
// switched to insecure_nbd, as on an isolated storage network: what TLS costs, in the same run); beside
// `strata repo backup-image` of the same bytes from a file (the engine's overhead: snapshot, NBD, XAPI),
// beside `restic backup` of the same image; and the restore of the VM beside its backup. The lab runs in
// its own process; both Strata repositories are encrypted with zstd level 1, restic uses its defaults
// (encrypted, compressed).
import { spawn } from 'node:child_process'
import { mkdir, readFile, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { createPoolLimits, backupVm, restoreVm } from '@strata/core/engine'
import { Repository, readManifest, resolvePoint } from '@strata/core/repository'
import { allowManyListeners, silentTask } from '@strata/core/shared'
import { LocalStore } from '@strata/core/storage'
import { XapiClient } from '@strata/core/xapi'
import { repoBackupImage } from '../packages/cli/src/commands/repo-backup-image.js'
import { run } from './harness.js'
import { tlsReceiveFloor } from './tls-floor.js'

// STRATA_BENCH_GIB: a smaller disk for profiling (the figures to compare are taken at 4 GiB).
const SIZE = Number(process.env.STRATA_BENCH_GIB ?? 4) * 1024 ** 3
const root = fileURLToPath(new URL('..', import.meta.url))
const dir = join(root, '.strata', 'bench', 'backup')
const passphrase = 'bench'

async function startLab() {
  const child = spawn(
    process.execPath,
    ['--conditions=strata-source', '--import', 'tsx', join(root, 'bench/backup-lab.ts')],
    {
      stdio: ['pipe', 'pipe', 'inherit'],
    },
  )
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]()
  const next = async () => JSON.parse(String((await lines.next()).value)) as Record<string, string>
  const ask = async (o: unknown) => (child.stdin.write(`${JSON.stringify(o)}\n`), next())
  return {
    pid: child.pid!,
    ready: await next(),
    ask,
    stop: () => ask({ cmd: 'exit' }).catch(() => undefined),
  }
}

async function freshRepo(name: string): Promise<{ path: string; repo: Repository }> {
  const path = join(dir, name)
  await rm(path, { recursive: true, force: true })
  const repo = await Repository.create(new LocalStore(path), {
    passphrase: Buffer.from(passphrase),
    compressionLevel: 1,
    weakKdfForTests: { N: 1024, r: 8, p: 1 }, // the bench measures backups, not unlocking
    force: true,
  })
  return { path, repo }
}

/** CPU seconds (user + system) a process used so far, from /proc. */
async function processCpu(pid: number): Promise<number> {
  const fields = (await readFile(`/proc/${pid}/stat`, 'utf8')).split(') ')[1]!.split(' ')
  return (Number(fields[11]) + Number(fields[12])) / 100 // utime, stime in clock ticks (100 Hz)
}

interface Timed<T> {
  seconds: number
  /** CPU seconds of this process (the engine or backup-image) and of the lab's process. */
  cpu: number
  labCpu: number
  value: T
}

async function timed<T>(fn: () => Promise<T>): Promise<Timed<T>> {
  const start = performance.now()
  const cpu = process.cpuUsage()
  const lab0 = await processCpu(labPid)
  const value = await fn()
  const used = process.cpuUsage(cpu)
  const labCpu = (await processCpu(labPid)) - lab0
  return { seconds: (performance.now() - start) / 1000, cpu: (used.user + used.system) / 1e6, labCpu, value }
}

const row = (label: string, t: { seconds: number; cpu: number; labCpu: number }, note = '') =>
  console.log(
    `  ${label.padEnd(58)} ${t.seconds.toFixed(2).padStart(7)} s ${(SIZE / 1e6 / t.seconds).toFixed(0).padStart(6)} MB/s` +
      `  cpu ${t.cpu.toFixed(1).padStart(5)} s (lab ${t.labCpu.toFixed(1)} s)  ${note}`,
  )

await mkdir(dir, { recursive: true })
console.log('starting the lab and writing 4 GiB into its VM (not timed)...')
const lab = await startLab()
const labPid = lab.pid
const xapi = new XapiClient({
  url: lab.ready.url!,
  fingerprint: lab.ready.fingerprint!,
  user: lab.ready.user!,
  password: lab.ready.password!,
})
try {
  const limits = createPoolLimits()
  const { repo } = await freshRepo('engine')
  const target = [{ name: 'bench', repository: repo }]
  const settings = { jobId: 'bench', mode: 'delta' as const, nbdConnections: 4 }
  const full = await timed(() =>
    backupVm(silentTask(), xapi, limits, lab.ready.vm!, target, { ...settings, runId: 'r1' }),
  )

  const pointRef = await resolvePoint(repo, full.value.points[0]!.pointId)
  const meta = (await readManifest(repo, pointRef)).vm.metadata as { disks: { snapshot: string }[] }
  const image = join(dir, 'snapshot.raw')
  await lab.ask({ cmd: 'export', vdi: meta.disks[0]!.snapshot, path: image })
  const peer = await freshRepo('image')
  const ctx = {
    stdout: process.stdout,
    stderr: process.stderr,
    signal: allowManyListeners(new AbortController().signal),
    json: true,
  }
  process.env.STRATA_PASSPHRASE = passphrase
  const imageRun = await timed(() =>
    repoBackupImage.run({ values: { repo: peer.path }, positionals: [image] } as never, ctx as never),
  )
  const resticRepo = join(dir, 'restic')
  await rm(resticRepo, { recursive: true, force: true })
  await run('env', [`RESTIC_PASSWORD=${passphrase}`, 'restic', 'init', '--repo', resticRepo])
  const resticRun = await timed(() =>
    run('/usr/bin/time', [
      '-f',
      '%U %S',
      '-o',
      `${resticRepo}.time`,
      'env',
      `RESTIC_PASSWORD=${passphrase}`,
      'restic',
      'backup',
      '--repo',
      resticRepo,
      image,
    ]),
  )
  const [u, sys] = (await readFile(`${resticRepo}.time`, 'utf8'))
    .trim()
    .split('\n')
    .at(-1)!
    .split(' ')
    .map(Number)
  const restic = { ...resticRun, cpu: u! + sys! }

  // The same first run without NBD (the VHD export over plain HTTP, no TLS): the engine's own overhead
  // apart from the transport, into a fresh repository so that every chunk is stored again.
  const vhdRepo = await freshRepo('engine-vhd')
  const viaVhd = await timed(() =>
    backupVm(silentTask(), xapi, limits, lab.ready.vm!, [{ name: 'vhd', repository: vhdRepo.repo }], {
      ...settings,
      jobId: 'bench-vhd',
      runId: 'v1',
      preferNbd: false,
    }),
  )
  // The same first run over clear-text NBD: the pool's network purpose becomes insecure_nbd (the lab's
  // NBD server, like xapi-nbd, follows it at the next connection), then nbd again.
  const [network] = await xapi.call<string[]>('network.get_all', [])
  const setPurpose = async (from: string, to: string) => {
    await xapi.call('network.remove_purpose', [network, from])
    await xapi.call('network.add_purpose', [network, to])
  }
  const clearRepo = await freshRepo('engine-clear')
  await setPurpose('nbd', 'insecure_nbd')
  const clear = await timed(() =>
    backupVm(silentTask(), xapi, limits, lab.ready.vm!, [{ name: 'clear', repository: clearRepo.repo }], {
      ...settings,
      jobId: 'bench-clear',
      runId: 'c1',
    }),
  ).finally(() => setPurpose('insecure_nbd', 'nbd'))
  const floor = await tlsReceiveFloor(join(dir, 'tls-floor'), SIZE)
  const changed = await lab.ask({ cmd: 'change' })
  const incr = await timed(() =>
    backupVm(silentTask(), xapi, limits, lab.ready.vm!, target, { ...settings, runId: 'r2' }),
  )
  const restore = await timed(() =>
    restoreVm(silentTask(), xapi, limits, {
      repository: repo,
      pointId: incr.value.points[0]!.pointId,
      srUuid: lab.ready.sr!,
    }),
  )

  console.log(
    `\nbackup of a ${SIZE / 1024 ** 3} GiB VM disk (${changed.changed} of ${SIZE / (2 * 1024 ** 2)} blocks changed before the second run)`,
  )
  row(
    'strata engine, first run (snapshot + NBD/TLS + store)',
    full,
    `read ${(full.value.bytesRead / 1e6).toFixed(0)} MB`,
  )
  row(
    'strata engine, first run over clear-text NBD',
    clear,
    `read ${(clear.value.bytesRead / 1e6).toFixed(0)} MB`,
  )
  row('strata engine, first run without NBD (VHD export, HTTP)', viaVhd)
  row('strata repo backup-image of the same bytes (file)', imageRun)
  row('restic backup of the same image (file)', restic)
  row(
    'strata engine, after 5 % changed (CBT + NBD)',
    incr,
    `read ${(incr.value.bytesRead / 1e6).toFixed(0)} MB`,
  )
  row('strata restore of the VM (sparse VHD to /import_raw_vdi)', restore)
  const percent = (a: number, b: number) => `${((a / b - 1) * 100).toFixed(0)} %`
  const overhead = (label: string, t: Timed<unknown>) =>
    console.log(
      `  engine overhead over backup-image, ${label}: ${percent(t.seconds, imageRun.seconds)} wall (goal < 15 %), ` +
        `${percent(t.cpu, imageRun.cpu)} in CPU of the backing-up process; the lab's serving cost ${t.labCpu.toFixed(1)} s more`,
    )
  overhead('NBD/TLS', full)
  overhead('clear-text NBD', clear)
  console.log(
    `  what TLS costs the backing-up process: ${(full.cpu - clear.cpu).toFixed(1)} s of CPU, ` +
      `${(((full.cpu - clear.cpu) / imageRun.cpu) * 100).toFixed(0)} % of backup-image's CPU`,
  )
  console.log(
    `  floor: a bare Node TLS socket, in a process of its own, receiving the same ${SIZE / 1024 ** 3} GiB (no NBD, bytes dropped) used ` +
      `${floor.cpu.toFixed(1)} s of CPU = ${((floor.cpu / imageRun.cpu) * 100).toFixed(0)} % of backup-image's CPU (${floor.seconds.toFixed(2)} s wall)`,
  )
  console.log(`  engine overhead without NBD (VHD export): ${percent(viaVhd.seconds, imageRun.seconds)} wall`)
  console.log(`  engine / restic: ${(restic.seconds / full.seconds).toFixed(2)}x restic's speed (wall)`)
  console.log(`  (MB/s of the incremental run and the restore are per 4 GiB of disk, not per byte moved)`)
  console.log(`  incremental / full: ${((incr.seconds / full.seconds) * 100).toFixed(1)} % (goal < 10 %)`)
  console.log(`  restore / backup time: ${(restore.seconds / full.seconds).toFixed(2)} (goal <= 1)`)
  if (incr.value.full) console.log('  WARNING: the second run was a full backup')
} finally {
  await xapi.close()
  await lab.stop()
}
