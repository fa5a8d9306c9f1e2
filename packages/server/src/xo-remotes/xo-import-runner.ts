// Imports of XO remotes into repositories as runs of kind 'xo-import', logged and listed like backup runs
// (task tree, progress with an ETA, warnings), in the server process as maintenance runs are: the work
// is reading the remote and writing the repository, which the core import does with bounded memory.
// One import per remote at a time; DELETE cancels it. A cancelled import leaves only complete points
// behind (a point is visible once committed), and the next one goes on with the others: that is the
// resume. The run keeps the report: each point imported, and each skipped with the reason.
import {
  makeRunId,
  openRunLog,
  runRootTask,
  statusOf,
  toTaskError,
  type TaskEvent,
} from '@strata/core/engine'
import { StrataError, type TaskContext } from '@strata/core'
import { importRemote, type XoImportOptions, type XoImportReport } from '@strata/core/xo'
import type { XoImportReport as RunReport } from '@strata/contract'
import { conflict, notFound } from '../errors.js'
import type { RepositoryService } from '../repositories/repository-service.js'
import type { RepositoryStore } from '../repositories/repository-store.js'
import type { RunManager } from '../runs/run-manager.js'
import type { RunPointLink } from '../runs/run-store.js'
import type { XoRemoteService } from './xo-remote-service.js'

export interface XoImportDeps {
  readonly runs: RunManager
  readonly remotes: XoRemoteService
  readonly repositories: RepositoryStore
  readonly repositoryService: RepositoryService
  /** Aborted when the server stops: running imports stop (and resume at the next one). */
  readonly closing: AbortSignal
}

export interface XoImportRequest extends XoImportOptions {
  readonly remoteId: string
  readonly repositoryId: string
}

/** How the run ends when an admin cancels it. */
class ImportCancelled extends StrataError {
  constructor(who: string) {
    super('CANCELLED', `cancelled by ${who}`)
  }
}

export class XoImportRunner {
  /** The running import of each remote. */
  readonly #running = new Map<string, { runId: string; controller: AbortController }>()

  constructor(readonly deps: XoImportDeps) {}

  /** Starts an import; resolves with its run's id once its log is open. */
  async start(r: XoImportRequest): Promise<string> {
    const { runs, closing } = this.deps
    const remote = await this.deps.remotes.store.get(r.remoteId)
    const repository = await this.deps.repositories.get(r.repositoryId)
    if (closing.aborted) throw conflict('the server is stopping', 'SERVER_STOPPING')
    const running = this.#running.get(remote.id)
    if (running !== undefined)
      throw conflict(
        `an import of '${remote.name}' is running already (run ${running.runId})`,
        'IMPORT_RUNNING',
      )
    const runId = makeRunId()
    const controller = new AbortController()
    this.#running.set(remote.id, { runId, controller })
    const log = await openRunLog(runs.runsDir, runId).catch((error: unknown) => {
      this.#running.delete(remote.id)
      throw error
    })
    const jobName = `import of ${remote.name} into ${repository.name}`
    await runs.beginOther(
      { runId, jobId: `xo-import:${remote.id}`, jobName, kind: 'xo-import', start: Date.now() },
      { names: { pools: {}, repositories: { [repository.id]: repository.name } } },
    )
    const signal = AbortSignal.any([closing, controller.signal])
    const emit = (event: TaskEvent): void => {
      log.append(event)
      runs.onEvent(runId, event)
    }
    const facts = {
      runId,
      remote: remote.name,
      remoteId: remote.id,
      repository: repository.name,
      pid: process.pid,
    }
    const done = runRootTask({ emit, signal }, 'xo-import', (task) => this.#import(task, r), facts)
      .then(
        (report) => runs.endOther(runId, 'success', undefined, { points: pointLinks(report, repository) }),
        (error: unknown) => {
          const cause = controller.signal.aborted ? controller.signal.reason : error
          return runs.endOther(
            runId,
            controller.signal.aborted ? 'interrupted' : statusOf(error),
            toTaskError(cause),
          )
        },
      )
      .finally(() => {
        log.close()
        this.#running.delete(remote.id)
        this.deps.repositoryService.outdated(repository.id)
      })
    runs.track(done)
    return runId
  }

  /** The running import of the remote, if any. */
  running(remoteId: string): string | undefined {
    return this.#running.get(remoteId)?.runId
  }

  /** Cancels the running import of the remote; answers its run's id. */
  async cancel(remoteId: string, who: string): Promise<string> {
    const remote = await this.deps.remotes.store.get(remoteId)
    const running = this.#running.get(remote.id)
    if (running === undefined) throw notFound(`a running import of '${remote.name}'`)
    running.controller.abort(new ImportCancelled(who))
    return running.runId
  }

  async #import(task: TaskContext, r: XoImportRequest): Promise<XoImportReport> {
    const repo = await this.deps.repositoryService.open(r.repositoryId, task.signal)
    const options = { vms: r.vms, since: r.since }
    const report = await this.deps.remotes.with(r.remoteId, task.signal, (remote) =>
      importRemote(task, remote, repo, options),
    )
    // The report in the run (docs/api.md): each point imported, each skipped with the reason.
    const summary: RunReport = {
      imported: report.imported.map((p) => ({
        backup: p.backup,
        point: p.point,
        vm: p.vm,
        size: p.size,
        newBytes: p.newBytes,
      })),
      skipped: report.skipped.map((s) => ({ backup: s.backup, vm: s.vm, reason: s.reason, code: s.code })),
    }
    task.set({ report: summary })
    return report
  }
}

function pointLinks(report: XoImportReport, repository: { id: string; name: string }): RunPointLink[] {
  return report.imported.map((p) => ({
    repositoryId: repository.id,
    repository: repository.name,
    vmUuid: p.vm,
    vm: p.vm,
    pointId: p.point.slice(p.point.lastIndexOf('/') + 1),
  }))
}
