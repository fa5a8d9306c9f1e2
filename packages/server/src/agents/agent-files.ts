// File-level restore from a repository assigned to an agent (docs/restore.md, docs/agents.md): the agent
// runs the appliance next to its repository. Browsing (filesystems, a folder's pages, a search, the
// end of a session) are requests over its link, answered with what its session answered; a download is
// streamed from the agent through the server on a stream of its own, as a disk's VHD is
// (agent-downloads.ts), with the same backpressure and limits.
import type { FastifyReply } from 'fastify'
import type { FileCall } from '@strata/core/agent'
import type { FileDownloadQuery } from '@strata/contract'
import type { FileSessionKey } from '../files/file-sessions.js'
import { untilClientGone } from '../http-signal.js'
import type { RepositoryStore } from '../repositories/repository-store.js'
import type { AgentDownloads } from './agent-downloads.js'
import type { AgentRepositoryAccess } from './agent-repository-access.js'

export class AgentFiles {
  constructor(
    readonly access: AgentRepositoryAccess,
    readonly downloads: AgentDownloads,
    readonly repositories: RepositoryStore,
    /** Aborted when the server stops: downloads end. */
    readonly closing: AbortSignal,
  ) {}

  agentOf(repositoryId: string): Promise<string | undefined> {
    return this.access.agentOf(repositoryId)
  }

  call(key: FileSessionKey, call: FileCall, signal: AbortSignal): Promise<object> {
    const { repositoryId, pointId, disk } = key
    return this.access.files(repositoryId, { pointId, disk }, call, signal)
  }

  async download(reply: FastifyReply, agentId: string, key: FileSessionKey, q: FileDownloadQuery) {
    const record = await this.repositories.get(key.repositoryId)
    const paths = typeof q.path === 'string' ? [q.path] : q.path
    const files = {
      paths,
      ...(q.fs === undefined ? {} : { fs: q.fs }),
      ...(q.format === undefined ? {} : { format: q.format }),
    }
    const signal = AbortSignal.any([untilClientGone(reply), this.closing])
    await this.downloads.streamDisk(
      reply,
      agentId,
      record,
      { pointId: key.pointId, disk: key.disk, files },
      signal,
    )
  }
}
