// The lab pool of `npm run bench -- backup`, in its own process so that its NBD and HTTP serving does not
// share the engine's event loop. Speaks JSON lines: prints {ready…} at start, then answers commands read
// from stdin: {"cmd":"change"} (5 % of the 2 MiB blocks get a 256 KiB write; with "round": n, new bytes
// each round), {"cmd":"export","vdi":uuid,"path":file} (a VDI's bytes to a raw file), {"cmd":"profile-start"} and
// {"cmd":"profile-stop","path":file} (a CPU profile of the lab, as .cpuprofile), {"cmd":"exit"}.
import { createCipheriv, createHash } from 'node:crypto'
import { open, writeFile } from 'node:fs/promises'
import { Session } from 'node:inspector/promises'
import { createInterface } from 'node:readline'
import { LabPool } from '@strata/lab'

const CHUNK = 2 * 1024 * 1024
// STRATA_BENCH_GIB: a smaller disk for profiling (the figures to compare are taken at 4 GiB).
const SIZE = Number(process.env.STRATA_BENCH_GIB ?? 4) * 1024 ** 3

/** Block i: 40 % zeros, 30 % its own pseudo-random bytes, 30 % one of 8 shared blocks. */
export function blockContent(i: number): Buffer {
  const kind = createHash('sha256').update(`kind ${i}`).digest().readUInt32BE(0) % 100
  if (kind < 40) return Buffer.alloc(CHUNK)
  const seed = kind < 70 ? `random ${i}` : `repeated ${i % 8}`
  const key = createHash('sha256').update(seed).digest()
  return createCipheriv('aes-256-ctr', key, Buffer.alloc(16)).update(Buffer.alloc(CHUNK))
}

// A small seed disk grown to 4 GiB (what VDI.resize does), then overwritten block by block: seeding a
// 4 GiB ext4 filesystem would take minutes.
const lab = await LabPool.start({
  vms: [{ name: 'bench-vm', power: 'Running', disks: [16] }],
  nbd: 'nbd', // the bench switches the network to insecure_nbd for one run, as an admin would
})
const vm = lab.ref('VM', 'bench-vm')
const vdi = lab.guest.disks(vm)[0]!
await lab.state.disks.resize(vdi, SIZE)
lab.state.db.update('VDI', vdi, { virtual_size: SIZE })
for (let i = 0; i < SIZE / CHUNK; i++) await lab.guest.write(vdi, i * CHUNK, blockContent(i))
const sr = lab.ref('SR', 'Local storage')
const uuid = (cls: string, ref: string) => String(lab.state.db.get(cls, ref).uuid)
const say = (o: unknown) => process.stdout.write(`${JSON.stringify(o)}\n`)
say({
  ready: true,
  url: lab.url,
  fingerprint: lab.fingerprint,
  user: lab.user,
  password: lab.password,
  vm: uuid('VM', vm),
  sr: uuid('SR', sr),
})

// The bench (STRATA_BENCH_PROFILE) asks for a CPU profile of the lab around each run it measures.
let profiler: Session | undefined
for await (const line of createInterface({ input: process.stdin })) {
  const command = JSON.parse(line) as { cmd: string; vdi?: string; path?: string; round?: number }
  if (command.cmd === 'change') {
    let changed = 0
    for (let i = 0; i < SIZE / CHUNK; i++) {
      if (createHash('sha256').update(`change ${i}`).digest().readUInt32BE(0) % 100 >= 5) continue
      // With a round, each change writes new bytes (else the same bytes again: a repository dedups them).
      const seed = command.round === undefined ? `changed ${i}` : `changed ${i} round ${command.round}`
      const key = createHash('sha256').update(seed).digest()
      const data = createCipheriv('aes-256-ctr', key, Buffer.alloc(16)).update(Buffer.alloc(256 * 1024))
      await lab.guest.write(vdi, i * CHUNK + 512 * 1024, data)
      changed++
    }
    say({ changed })
  } else if (command.cmd === 'export') {
    const ref = lab.state.db.find('VDI', (r) => r.uuid === command.vdi)[0]![0]
    const out = await open(command.path!, 'w')
    for (let off = 0; off < SIZE; off += 64 * CHUNK) {
      const data = await lab.state.disks.read(ref, off, 64 * CHUNK)
      await out.write(data, 0, data.length, off)
    }
    await out.close()
    say({ exported: command.path })
  } else if (command.cmd === 'profile-start') {
    profiler ??= new Session()
    profiler.connect()
    await profiler.post('Profiler.enable')
    await profiler.post('Profiler.start')
    say({ profiling: true })
  } else if (command.cmd === 'profile-stop') {
    const { profile } = await profiler!.post('Profiler.stop')
    await writeFile(command.path!, JSON.stringify(profile))
    profiler!.disconnect()
    say({ profiled: command.path })
  } else {
    break
  }
}
await lab.close()
process.exit(0)
