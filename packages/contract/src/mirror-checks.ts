// What a mirror job (docs/mirror.md) must be, beyond its schema: one source repository, at least one
// other as its target, and nothing a mirror cannot do (SR targets, health checks, smart rules: it copies
// every VM's restore points, or those of listed VMs). Shared by job files and API bodies, which name
// repositories differently (objects with a name, or ids).
import type { Checks } from './semantics.js'

type Json = Record<string, unknown>
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v)
const items = (v: unknown): unknown[] => (Array.isArray(v) ? v : [])
/** A repository as a job names it: its id (API) or its name (job file). */
const repositoryName = (v: unknown): string | undefined =>
  typeof v === 'string' ? v : isObject(v) && typeof v.name === 'string' ? v.name : undefined

/** Smart rules that select less than every VM (the defaults select every one). */
const SELECTING_RULES = ['pools', 'tags', 'powerState', 'excludeVms', 'excludeTags']

export function checkMirrorKind(c: Checks, job: Json): void {
  const kind = job.kind ?? 'backup'
  const mirrorTo = items(job.mirrorTo)
  if (kind !== 'mirror') {
    if (mirrorTo.length > 0) c.add('mirrorTo', "only a mirror job has mirror targets (kind: 'mirror')")
    return
  }
  const sources = items(job.repositories)
  if (sources.length !== 1) c.add('repositories', 'a mirror job copies from one repository: name exactly one')
  if (mirrorTo.length === 0) c.add('mirrorTo', 'a mirror job needs at least one target repository')
  const source = sources.length === 1 ? repositoryName(sources[0]) : undefined
  const others = sources.map(repositoryName)
  const seen = new Set<string>()
  mirrorTo.forEach((target, i) => {
    const name = repositoryName(target)
    if (name === undefined) return
    if (name === source || (source === undefined && others.includes(name)))
      c.add(`mirrorTo[${i}]`, `'${name}' is the source repository: a repository is not its own mirror`)
    else if (seen.has(name)) c.add(`mirrorTo[${i}]`, `'${name}' appears twice`)
    seen.add(name)
  })
  if (items(job.targets).length > 0)
    c.add('targets', "only a replication job has targets (kind: 'replication')")
  items(job.schedules).forEach((s, i) => {
    if (isObject(s) && s.healthCheck !== undefined)
      c.add(`schedules[${i}].healthCheck`, 'a mirror job copies restore points and boots nothing: remove it')
  })
  checkMirrorVms(c, job.vms)
}

/** API bodies hold smart rules under `smart`, job files as the object itself. */
function checkMirrorVms(c: Checks, vms: unknown): void {
  if (!isObject(vms)) return
  const [path, rules] = isObject(vms.smart) ? ['vms.smart', vms.smart] : ['vms', vms]
  if ('uuids' in rules) return
  if (
    SELECTING_RULES.some(
      (rule) => items(rules[rule]).length > 0 || (rule === 'powerState' && rules[rule] !== undefined),
    )
  )
    c.add(
      path,
      "a mirror job copies every VM's points ({ smart: {} }) or those of listed uuids, not smart rules",
    )
}
