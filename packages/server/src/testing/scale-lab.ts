// The lab pool of the scale test and bench (scale-run.ts) in a process of its own, as a real pool is
// another host: its serving of exports does not share the server's event loop, and its memory is not in
// the server's. Started with the VM count and disk size as arguments; prints one JSON line with the
// pool's address and credentials once seeded, and closes when its stdin ends. A third argument 'nbd'
// serves the disks over NBD too (the scale test reads VHD exports: the cheaper path for 200 VMs).
import { LabPool } from '@strata/lab'

const [count, diskSize, nbd] = process.argv.slice(2)
const lab = await LabPool.start({
  nbd: nbd === 'nbd' ? 'nbd' : false,
  authFailureDelayMs: 10,
  dom0DetachMs: 50,
  vms: { count: Number(count), diskSize: diskSize ?? '16MiB', power: 'Running', tags: ['scale'] },
})
process.stdout.write(
  `${JSON.stringify({ url: lab.url, user: lab.user, password: lab.password, fingerprint: lab.fingerprint })}\n`,
)
process.stdin.resume()
process.stdin.on('end', () => void lab.close().finally(() => process.exit(0)))
