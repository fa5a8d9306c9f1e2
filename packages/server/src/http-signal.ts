// An AbortSignal for work done on behalf of one HTTP request: aborted when the client goes away before
// the answer is complete (a closed tab, a cancelled download), so that the work stops with it.
import type { FastifyReply } from 'fastify'
import { StrataError } from '@strata/core'

export function untilClientGone(reply: FastifyReply): AbortSignal {
  const controller = new AbortController()
  const response = reply.raw
  response.once('close', () => {
    if (!response.writableFinished)
      controller.abort(
        new StrataError('CLIENT_GONE', 'the client closed the connection before the answer ended'),
      )
  })
  return controller.signal
}
