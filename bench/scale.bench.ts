// npm run bench -- scale [count...]: issue 26's scale on one host. A lab pool seeded with N small sparse
// VMs (default 50 then 200), one smart job on their tag under the default limits, run through the server
// while a client polls runs, the run, jobs and the overview; prints the run time, the GETs' p50/p99 and
// the RSS peaks of the server's process (this one) and of each worker, and the latency of each page.
// The lab pool runs in a process of its own (scale-lab.ts).
import { runScale, startScale, type ScaleFigures } from '../packages/server/src/testing/scale-run.js'

const counts = process.argv.slice(2).map(Number)
const figures: ScaleFigures[] = []
for (const count of counts.length > 0 ? counts : [50, 200]) {
  const setup = await startScale(count)
  try {
    figures.push(await runScale(setup, count, 30 * 60_000))
  } finally {
    await setup.close()
  }
}
const mib = (n: number) => `${n.toFixed(0)} MiB`
for (const f of figures) {
  console.log(
    `${f.vms} VMs: ${f.status} in ${(f.runMs / 1000).toFixed(1)} s; ` +
      `${f.latency.count} GETs p50 ${f.latency.p50.toFixed(1)} ms p99 ${f.latency.p99.toFixed(1)} ms max ${f.latency.max.toFixed(0)} ms; ` +
      `server RSS ${mib(f.serverRssBefore)} before, peak ${mib(f.serverRssPeak)}; ` +
      `${f.workerRssPeaks.length} worker(s), peak ${f.workerRssPeaks.map(mib).join(', ')} ` +
      `(${mib(f.workerRssEarly)} after ${f.early} VMs)`,
  )
  for (const [path, l] of Object.entries(f.perPath))
    console.log(`  ${path}: p50 ${l.p50.toFixed(1)} ms p99 ${l.p99.toFixed(1)} ms max ${l.max.toFixed(0)} ms`)
}
