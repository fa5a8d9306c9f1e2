// The real CommandRunner: the command runs without a shell, with a clean environment (PATH and the C
// locale, whose messages mountFailure reads), bounded in time and output, and killed on abort.
import { execFile } from 'node:child_process'
import type { CommandResult, CommandRunner } from './mount-commands.js'

const ENV = { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', LC_ALL: 'C' }

export const runCommand: CommandRunner = (command, args, options) =>
  new Promise<CommandResult>((resolve, reject) => {
    execFile(
      command,
      [...args],
      { env: ENV, signal: options.signal, timeout: options.timeoutMs, maxBuffer: 1024 * 1024 },
      (error, stdout, stderr) => {
        if (error === null) return resolve({ code: 0, stdout, stderr })
        const code = (error as { code?: unknown }).code
        // A numeric code is the exit status; a string one (ENOENT, ABORT_ERR) means it never ran or was stopped.
        if (typeof code === 'number') return resolve({ code, stdout, stderr })
        if (error.killed === true && options.signal?.aborted !== true) {
          return resolve({ code: null, stdout, stderr: `${stderr}\ntimed out after ${options.timeoutMs} ms` })
        }
        reject(error)
      },
    )
  })
