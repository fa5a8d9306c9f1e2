// Reading a job file for `strata backup run`. Whatever makes a job unusable (a file that cannot be read,
// is not JSON, or does not validate) is one error, INVALID_JOB, that the CLI exits with status 3 for;
// a job's problems are listed all at once, the file named apart from the paths inside it.
import { readFile, stat } from 'node:fs/promises'
import { formatProblem } from '@strata/contract'
import { JobError, parseJob, type Job } from '@strata/core/engine'
import { errorMessage } from '@strata/core'

/** A job file is written by hand: anything larger is not one. */
export const MAX_JOB_FILE_BYTES = 1024 * 1024

/** The job in `path`; `warn` is told of each old spelling it still uses (one line each). */
export async function readJobFile(path: string, warn: (line: string) => void): Promise<Job> {
  const source = `job file '${path}'`
  const unusable = (reason: string, cause: unknown) =>
    new JobError(`${source} cannot be used: ${reason}`, { cause, source })
  let text: string
  try {
    const { size } = await stat(path)
    if (size > MAX_JOB_FILE_BYTES) throw new Error(`${size} bytes, more than ${MAX_JOB_FILE_BYTES}`)
    text = await readFile(path, 'utf8')
  } catch (error) {
    throw unusable(`cannot read it (${errorMessage(error)})`, error)
  }
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch (error) {
    throw unusable(`it is not JSON (${errorMessage(error)})`, error)
  }
  return parseJob(value, source, { onWarning: (w) => warn(`${source}: ${formatProblem(w)}`) })
}
