// The floor under any NBD-over-TLS reader in Node on this machine: a small process of its own with one
// TLS socket receiving `size` bytes from a TLS server in another process (default TLS 1.3 suite, as the
// NBD client negotiates), nothing done with the bytes. Its CPU is what TLS alone costs a receiver. (Run
// inside the bench's own process, the same bare socket cost about twice as much; the cause is not known.)
import { spawn } from 'node:child_process'
import { createInterface } from 'node:readline'
import { run } from './harness.js'
import { makeSelfSignedCertificate } from '@strata/core/testing/tls'

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

const client = `
import { connect } from 'node:tls'
const [port, ca, size] = process.argv.slice(1)
const start = performance.now()
const cpu = process.cpuUsage()
let got = 0
const socket = connect({ host: '127.0.0.1', port: Number(port), ca, servername: 'localhost' })
socket.on('data', (d) => (got += d.length))
socket.on('end', () => {
  const used = process.cpuUsage(cpu)
  if (got < Number(size)) throw new Error('received ' + got + ' of ' + size + ' bytes')
  console.log(JSON.stringify({ seconds: (performance.now() - start) / 1000, cpu: (used.user + used.system) / 1e6 }))
})
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
    const out = await run(process.execPath, [
      '--input-type=module',
      '-e',
      client,
      String(port),
      cert.cert,
      String(size),
    ])
    return JSON.parse(out) as { seconds: number; cpu: number }
  } finally {
    child.kill()
  }
}
