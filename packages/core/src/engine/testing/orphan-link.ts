// For worker-child.test.ts, in two roles. As the parent (no argument but the report file): forks itself
// as the child and dies (SIGKILL) once the child talks. As the child: sends through parentLink while
// busy, as a worker does, and once the parent is seen gone writes 'undone' to the report file, as a
// worker's undo would run then.
import { fork } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { parentLink } from '../worker-child.js'

const [report, role] = process.argv.slice(2) as [string, string | undefined]
if (role === undefined) {
  const child = fork(fileURLToPath(import.meta.url), [report, 'child'], { stdio: 'inherit' })
  child.once('message', () => process.kill(process.pid, 'SIGKILL'))
} else {
  const { send } = parentLink()
  // Busy between sends, as a worker computing between two events is: the parent dies during the work,
  // its end of the channel is seen closed only at the next turn of the event loop, and the send before
  // that fails at once (EPIPE).
  const loop = (): void => {
    for (let i = 0; i < 10 && process.connected; i++) {
      const end = Date.now() + 2
      while (Date.now() < end);
      send({ type: 'release', id: i } as never)
    }
    if (process.connected) setImmediate(loop)
  }
  process.on('disconnect', () => setTimeout(() => writeFileSync(report, 'undone'), 100))
  loop()
}
