// The one validator of jobs: the CLI (job files), the server (API bodies) and the UI's form call these
// and nothing else. Old spellings are renamed first (each a warning), then the schema and the checks a
// schema cannot express run, and every problem is reported at once with its JSON path.
import type { Static, TSchema } from '@sinclair/typebox'
import { JobInput, JobPatch, type StoredJob } from './api-jobs.js'
import { upgradeJobFile, upgradeJobInput, type Upgraded } from './deprecations.js'
import { JobFile } from './job-file.js'
import { schemaProblems, MAX_PROBLEMS, type Problem } from './problems.js'
import { checkMirrorKind } from './mirror-checks.js'
import { Checks, durationMs } from './semantics.js'

export type Checked<T> =
  | { readonly ok: true; readonly value: T; readonly warnings: Problem[] }
  | { readonly ok: false; readonly problems: Problem[]; readonly warnings: Problem[] }

type Json = Record<string, unknown>
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v)
const items = (v: unknown): unknown[] => (Array.isArray(v) ? v : [])
const field = (v: unknown, key: string): unknown => (isObject(v) ? v[key] : undefined)
const text = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined)

function finish<S extends TSchema>(
  schema: S,
  up: Upgraded,
  semantics: (c: Checks) => void,
): Checked<Static<S>> {
  const checks = new Checks()
  // Run even when the shape is wrong: every problem at once, not one per attempt.
  if (isObject(up.value)) semantics(checks)
  const shape = without(schemaProblems(schema, up.value), up.problems)
  const problems = [...up.problems, ...shape, ...without(checks.problems, shape)]
  if (problems.length > 0)
    return { ok: false, problems: dedupe(problems).slice(0, MAX_PROBLEMS), warnings: up.warnings }
  return { ok: true, value: up.value as Static<S>, warnings: up.warnings }
}

/** The problems not at a path that `first` already reports (one problem per place is enough). */
function without(problems: Problem[], first: Problem[]): Problem[] {
  const paths = new Set(first.map((p) => p.path))
  return problems.filter((p) => !paths.has(p.path))
}

function dedupe(problems: Problem[]): Problem[] {
  const seen = new Set<string>()
  return problems.filter((p) => !seen.has(`${p.path}\0${p.message}`) && seen.add(`${p.path}\0${p.message}`))
}

/** A job file, as `strata backup run JOB.json` reads it. */
export function checkJobFile(value: unknown): Checked<JobFile> {
  const up = upgradeJobFile(value)
  return finish(JobFile, up, (c) => {
    const job = up.value as Json
    const pools = items(job.pools).map((p) => text(field(p, 'id')))
    // A mirror copies between repositories: it alone needs no pool.
    if (pools.length === 0 && job.kind !== 'mirror') c.add('pools', 'needs at least 1 item')
    c.unique(pools, (i) => `pools[${i}].id`)
    c.unique(
      items(job.repositories).map((r) => text(field(r, 'name'))),
      (i) => `repositories[${i}].name`,
    )
    const known = (path: string, id: unknown): void => {
      if (typeof id === 'string' && !pools.includes(id))
        c.add(path, `no pool '${id}' in the job's pools (${pools.join(', ')})`)
    }
    items(field(job.vms, 'pools')).forEach((id, i) => known(`vms.pools[${i}]`, id))
    items(job.targets).forEach((t, i) => known(`targets[${i}].pool`, field(t, 'pool')))
    items(job.schedules).forEach((s, i) =>
      known(`schedules[${i}].healthCheck.pool`, field(field(s, 'healthCheck'), 'pool')),
    )
    checkCommon(c, job)
  })
}

/** A job sent to POST /api/jobs (and the UI's form before it sends). */
export function checkJobInput(value: unknown): Checked<JobInput> {
  const up = upgradeJobInput(value)
  return finish(JobInput, up, (c) => checkApiSemantics(c, up.value as Json))
}

/**
 * A PATCH /api/jobs/:id body: the patch's own shape, then the job it makes with the stored one. The
 * result is the whole job (the given top-level fields replace the stored ones).
 */
export function checkJobPatch(value: unknown, before: StoredJob): Checked<JobInput> {
  const up = upgradeJobInput(value, before.settings)
  const shape = without(schemaProblems(JobPatch, up.value), up.problems)
  if (shape.length > 0 || up.problems.length > 0)
    return { ok: false, problems: [...up.problems, ...shape], warnings: up.warnings }
  const { id: _id, ...stored } = before
  const merged = { ...stored, ...(up.value as Json) }
  const whole = checkJobInput(merged)
  return whole.ok
    ? { ok: true, value: whole.value, warnings: up.warnings }
    : { ok: false, problems: whole.problems, warnings: up.warnings }
}

function checkApiSemantics(c: Checks, job: Json): void {
  c.unique(items(job.repositories).map(text), (i) => `repositories[${i}]`)
  checkCommon(c, job)
}

function checkCommon(c: Checks, job: Json): void {
  const schedules = items(job.schedules)
  c.unique(
    schedules.map((s) => text(field(s, 'id'))),
    (i) => `schedules[${i}].id`,
  )
  schedules.forEach((s, i) => {
    const timezone = field(s, 'timezone')
    c.schedule(`schedules[${i}]`, text(field(s, 'cron')), typeof timezone === 'string' ? timezone : undefined)
    const retention = field(s, 'retention')
    if (isObject(retention)) c.retention(`schedules[${i}].retention`, retention)
  })
  const settings = job.settings
  if (isObject(settings)) c.settings('settings', settings)
  checkKind(c, job)
}

/** A metadata job backs up the pools its smart rules name (all: every pool) into repositories. */
function checkMetadataKind(c: Checks, job: Json, repositories: number, targets: number): void {
  if (repositories === 0) c.add('repositories', 'a metadata job needs at least one repository')
  if (targets > 0) c.add('targets', "only a replication job has targets (kind: 'replication')")
  // Job files write smart rules as `vms: {pools}`, the API as `vms: {smart: {pools}}`; a list is VMs.
  if (Array.isArray(job.vms) || field(job.vms, 'uuids') !== undefined)
    c.add('vms', 'a metadata job selects pools, not VMs: vms.smart.pools (empty: every pool)')
}

/** A backup job writes to repositories, a replication job to SRs; health checks as each kind does them. */
function checkKind(c: Checks, job: Json): void {
  const kind = job.kind ?? 'backup'
  const repositories = items(job.repositories)
  const targets = items(job.targets)
  if (kind === 'backup') {
    if (repositories.length === 0) c.add('repositories', 'a backup job needs at least one repository')
    if (targets.length > 0) c.add('targets', "only a replication job has targets (kind: 'replication')")
  } else if (kind === 'metadata') {
    checkMetadataKind(c, job, repositories.length, targets.length)
  } else if (kind === 'replication') {
    if (targets.length === 0) c.add('targets', 'a replication job needs at least one target SR')
    if (repositories.length > 0)
      c.add('repositories', "a replication job writes to SRs, not repositories (or use kind 'backup')")
  }
  checkMirrorKind(c, job)
  const seen = new Set<string>()
  targets.forEach((t, i) => {
    const key = `${String(field(t, 'pool'))}\0${String(field(t, 'sr'))}`
    if (seen.has(key))
      c.add(`targets[${i}].sr`, `SR '${String(field(t, 'sr'))}' of that pool is a target twice`)
    seen.add(key)
  })
  items(job.schedules).forEach((s, i) => {
    const check = field(s, 'healthCheck')
    if (!isObject(check)) return
    if (kind === 'backup' && check.sr === undefined)
      c.add(`schedules[${i}].healthCheck.sr`, 'a health check restores the point to an SR: name it')
    if (check.timeout !== undefined && durationMs(check.timeout) === undefined)
      c.add(`schedules[${i}].healthCheck.timeout`, `${JSON.stringify(check.timeout)} is not a duration`)
  })
}
