// Cross-site request forgery: a session cookie travels with any request the browser makes, so a change
// made with it must also carry a header that a cross-site form or image cannot set and that a
// cross-site script cannot send without a CORS preflight this server never grants. SameSite=Strict
// already keeps the cookie off cross-site requests in current browsers; this holds where it does not
// (older browsers, a sibling subdomain counted as same-site). Bearer tokens are not sent by browsers
// on their own, so they need no header.
import type { FastifyRequest } from 'fastify'
import { ApiError } from '../errors.js'
import type { Credential } from './credentials.js'

export const CSRF_HEADER = 'x-strata-request'

export function requireCsrfHeader(request: FastifyRequest, credential: Credential): void {
  if (credential.via !== 'session' || request.method === 'GET' || request.method === 'HEAD') return
  if (request.headers[CSRF_HEADER] !== '1')
    throw new ApiError(
      403,
      'CSRF_HEADER_MISSING',
      `${request.method} with a session cookie needs the header 'X-Strata-Request: 1' (the web UI sends it)`,
    )
}
