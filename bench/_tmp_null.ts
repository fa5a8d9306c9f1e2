import { NbdClient, STATE_ZERO } from '@strata/core/nbd'
const port = Number(process.argv[2])
const rounds = Number(process.argv[3] ?? 3)
for (let r = 0; r < rounds; r++) {
  const t0 = performance.now(); const c0 = process.cpuUsage()
  const client = await NbdClient.open({ host: '127.0.0.1', port, exportName: 'disk', connections: Number(process.env.C ?? 2), inFlight: Number(process.env.R ?? 16), requestSize: Number(process.env.S ?? 2097152) })
  const extents = await client.blockStatus(0, client.size)
  const data = extents.filter((e) => (e.flags & STATE_ZERO) === 0).map((e) => ({ offset: e.offset, length: e.length }))
  let n = 0
  for await (const p of client.readRanges(data, { ordered: false })) { n += p.bytes.length; p.release() }
  await client.close()
  const c = process.cpuUsage(c0)
  console.log(`strata null: ${((performance.now() - t0) / 1000).toFixed(2)} s cpu ${((c.user + c.system) / 1e6).toFixed(2)} (${c.user/1e6} + ${c.system/1e6}) ${n}`)
}
