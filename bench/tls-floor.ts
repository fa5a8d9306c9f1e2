// The floor under any NBD-over-TLS reader on this machine: one Node TLS socket receiving `size` bytes
// from a TLS server in another process (default TLS 1.3 suite, as the NBD client negotiates), nothing
// done with the bytes. The receiving side's CPU is what TLS alone costs the backing-up process.
import { spawn } from 'node:child_process'
import { connect } from 'node:tls'
import { createInterface } from 'node:readline'
import { makeSelfSignedCertificate } from '../packages/core/src/testing/index.js'

const server = `
import { createServer } from 'node:tls'
import { readFileSync } from 'node:fs'
const [certPath, keyPath, size] = process.argv.slice(1)
const block = Buffer.alloc(1024 * 1024, 0x5a)
const s = createServer({ cert: readFileSync(certPath), key: readFileSync(keyPath) }, (socket) => {
  let sent = 0
  const pump = () => {
    while (sent < Number(size)) {
      sent += block.length
      if (!socket.write(block)) return void socket.once('drain', pump)
    }
    socket.end()
  }
  pump()
})
s.listen(0, '127.0.0.1', () => console.log(s.address().port))
`

export async function tlsReceiveFloor(dir: string, size: number): Promise<{ seconds: number; cpu: number }> {
  const cert = await makeSelfSignedCertificate(dir, 'floor', { commonName: 'localhost' })
  const child = spawn(
    process.execPath,
    ['--input-type=module', '-e', server, cert.certPath, cert.keyPath, String(size)],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  )
  try {
    const port = Number((await createInterface({ input: child.stdout })[Symbol.asyncIterator]().next()).value)
    const start = performance.now()
    const cpu = process.cpuUsage()
    const received = await new Promise<number>((resolve, reject) => {
      let got = 0
      const socket = connect({ host: '127.0.0.1', port, ca: cert.cert, servername: 'localhost' })
      socket.on('data', (d: Buffer) => (got += d.length))
      socket.on('end', () => resolve(got))
      socket.on('error', reject)
    })
    const used = process.cpuUsage(cpu)
    if (received < size) throw new Error(`TLS floor: received ${received} of ${size} bytes`)
    return { seconds: (performance.now() - start) / 1000, cpu: (used.user + used.system) / 1e6 }
  } finally {
    child.kill()
  }
}
