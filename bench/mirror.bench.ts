// npm run bench -- mirror [MiB]: `strata mirror run` (encrypted → encrypted with another key: every chunk
// authenticated, decrypted, re-hashed and re-encrypted) beside `strata repo backup-image` of the same data
// and `rclone copy` of the same repository folder (bytes copied as they are, nothing verified), one run
// each on the same input. Throughput is the image's logical bytes over wall time.
import { spawn } from 'node:child_process'
import { createCipheriv, createHash } from 'node:crypto'
import { mkdir, open, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { run, type Measurement } from './harness.js'
import { du } from './repository-processes.js'

const MiB = 1024 ** 2
const CHUNK = 2 * MiB
const SIZE = Number(process.argv[2] ?? 1024) * MiB
const root = fileURLToPath(new URL('..', import.meta.url))
const dir = join(root, '.strata', 'bench', 'mirror')
const image = join(dir, 'disk.img')
const bin = join(root, 'packages/cli/bin/strata.js')
const secrets = { STRATA_PASSPHRASE: 'bench source', STRATA_TO_PASSPHRASE: 'bench target' }

/** 30 % zeros, 50 % unique pseudo-random chunks, 20 % one of 4 repeated chunks. */
async function makeImage(): Promise<void> {
  await mkdir(dir, { recursive: true })
  const handle = await open(image, 'w')
  for (let i = 0; i < SIZE / CHUNK; i++) {
    const kind = createHash('sha256').update(`kind ${i}`).digest().readUInt32BE(0) % 100
    if (kind < 30) continue
    const key = createHash('sha256')
      .update(kind < 80 ? `random ${i}` : `repeated ${i % 4}`)
      .digest()
    const data = createCipheriv('aes-256-ctr', key, Buffer.alloc(16)).update(Buffer.alloc(CHUNK))
    await handle.write(data, 0, CHUNK, i * CHUNK)
  }
  await handle.truncate(SIZE)
  await handle.close()
}

/** Wall seconds of one command, with `env` over the bench's environment. */
function timed(command: string, args: string[], env: Record<string, string> = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const started = performance.now()
    const child = spawn(command, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
    let err = ''
    child.stderr.on('data', (d: Buffer) => (err += d.toString()))
    child.on('error', reject)
    child.on('close', (code) =>
      code === 0
        ? resolve((performance.now() - started) / 1000)
        : reject(new Error(`${command} ${args.join(' ')} exited ${code}: ${err.slice(-2000)}`)),
    )
  })
}

const strata = (args: string[], env: Record<string, string>): Promise<number> =>
  timed(process.execPath, [bin, ...args], env)

async function main(): Promise<void> {
  await run('npm', ['run', '--silent', 'build'])
  await rm(dir, { recursive: true, force: true })
  console.log(`making a ${SIZE / MiB} MiB image...`)
  await makeImage()
  const a = join(dir, 'repo-a')
  const b = join(dir, 'repo-b')
  const c = join(dir, 'rclone-copy')
  const src = { STRATA_PASSPHRASE: secrets.STRATA_PASSPHRASE }
  await strata(['repo', 'init', '--repo', a, '--encrypt', '--chunk-size', '2M'], src)
  await strata(['repo', 'init', '--repo', b, '--encrypt', '--chunk-size', '2M'], {
    STRATA_PASSPHRASE: secrets.STRATA_TO_PASSPHRASE,
  })
  const backup = await strata(['repo', 'backup-image', image, '--repo', a, '--vm', 'bench'], src)
  const mirror = await strata(['mirror', 'run', '--from', a, '--to', b], secrets)
  const rclone = await timed('rclone', ['copy', '--transfers', '8', a, c])
  const stored = await du(a)
  const rows: Measurement[] = [
    { label: 'strata repo backup-image (image → A)', seconds: [backup], bytes: SIZE },
    { label: 'strata mirror run (A → B, re-keyed)', seconds: [mirror], bytes: SIZE },
    { label: 'rclone copy (A folder → copy)', seconds: [rclone], bytes: SIZE },
  ]
  console.log(`\nmirror: ${SIZE / MiB} MiB image, ${(stored / MiB).toFixed(0)} MiB stored in A, one run each`)
  for (const m of rows) {
    const mbps = m.bytes / 1e6 / m.seconds[0]!
    console.log(
      `  ${m.label.padEnd(40)} ${m.seconds[0]!.toFixed(2).padStart(7)} s  ${mbps.toFixed(0).padStart(6)} MB/s`,
    )
  }
  console.log(`  ratio mirror / backup-image: ${(backup / mirror).toFixed(2)}x`)
  console.log(`  ratio mirror / rclone copy:  ${(rclone / mirror).toFixed(2)}x`)
}

await main()
