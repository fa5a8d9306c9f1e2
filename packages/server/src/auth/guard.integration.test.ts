// The guard against a real server: every registered route that is not explicitly public refuses an
// anonymous caller, however the request spells its path (percent-encoded, absolute-form, doubled
// slashes, dot segments, another case, a trailing slash or dot), and an unknown path tells an anonymous
// caller nothing about the API. Requests go over a raw socket: fetch would normalise the targets.
import { mkdir, writeFile } from 'node:fs/promises'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { scratchDir, type Scratch } from '@strata/core/testing'
import type { RunningServer } from '../start-server.js'
import { ApiClient } from '../testing/api-client.js'
import { rawRequest } from '../testing/raw-http.js'
import { startTestServer } from '../testing/test-server.js'
import { registeredRoutes } from './guard.js'

/** What an attacker would post to every route: the review's admin user. */
const EVIL = JSON.stringify({ username: 'evil', password: 'evil-password', role: 'admin' })

/** The private routes outside /api/: Prometheus scrapes `/metrics` there (issue 27 names it). */
const OUTSIDE_API = ['GET /metrics', 'HEAD /metrics']

/** Every way of writing `path` that the router or a proxy in front may take for it. */
function spellings(path: string, origin: string): string[] {
  const rest = path.slice('/api'.length)
  const encodedLetters = path.replace(
    /\/([a-z])/g,
    (_, c: string) => `/%${c.charCodeAt(0).toString(16).padStart(2, '0')}`,
  )
  if (!path.startsWith('/api/'))
    return [
      path,
      encodedLetters,
      `${origin}${path}`,
      `http://attacker.example${path}`,
      `/${path}`,
      `/x/..${path}`,
      `/.${path}`,
      path.toUpperCase(),
      `${path}/`,
      `${path}.`,
      `${path}?x=1`,
    ]
  return [
    path,
    `/%61pi${rest}`,
    encodedLetters,
    `${origin}${path}`,
    `http://attacker.example${path}`,
    `/${path}`,
    `/api/.${rest}`,
    `/api/x/..${rest}`,
    `/API${rest}`,
    `${path}/`,
    `${path}.`,
    `${path}?x=1`,
  ]
}

describe('the guard', () => {
  let scratch: Scratch
  let server: RunningServer
  let admin: ApiClient

  beforeAll(async () => {
    scratch = await scratchDir('strata-server-guard-')
    await mkdir(scratch.path('ui', 'assets'), { recursive: true })
    await writeFile(scratch.path('ui', 'index.html'), '<!doctype html><title>Strata UI shell</title>')
    await writeFile(scratch.path('ui', 'assets', 'app.js'), 'console.log("ui")')
    server = await startTestServer(scratch, { adminPassword: 'admin-password', webDir: scratch.path('ui') })
    admin = new ApiClient(server.url)
    expect((await admin.login('admin', 'admin-password')).status).toBe(200)
  })
  afterAll(async () => {
    await server?.close()
    await scratch?.[Symbol.asyncDispose]()
  })

  it('makes public only the login, the health check and the UI files', () => {
    const open = registeredRoutes(server.app)
      .filter((r) => r.public)
      .map((r) => `${r.method} ${r.url}`)
      .sort()
    expect(open).toEqual([
      'GET /',
      'GET /api/health',
      'GET /assets/app.js',
      'GET /index.html',
      'HEAD /',
      'HEAD /api/health',
      'HEAD /assets/app.js',
      'HEAD /index.html',
      'POST /api/auth/login',
    ])
  })

  it('refuses every private route to an anonymous caller, however its path is spelt', async () => {
    const routes = registeredRoutes(server.app).filter((r) => !r.public)
    expect(routes.length).toBeGreaterThan(40)
    // The walk reaches routes added by other work too: the pool trust routes (probe, accept by PATCH),
    // a run's text report and the restore points by VM name.
    expect(routes.map((r) => `${r.method} ${r.url}`)).toEqual(
      expect.arrayContaining([
        'POST /api/pools/probe',
        'POST /api/pools',
        'PATCH /api/pools/:id',
        'GET /api/runs/:runId/report',
        'GET /api/repositories/:id/points',
        'PATCH /api/settings',
        'POST /api/xo-remotes',
        'GET /api/xo-remotes/:id/points/:vm/:date/disks/:file',
        'DELETE /api/xo-remotes/:id/import',
        'POST /api/agents',
        'DELETE /api/agents/:id',
        'PUT /api/pools/:id/agent',
        'GET /api/agent/connect',
        ...OUTSIDE_API,
      ]),
    )
    let checked = 0
    for (const route of routes) {
      if (!OUTSIDE_API.includes(`${route.method} ${route.url}`))
        expect(route.url, 'private routes live under /api/').toMatch(/^\/api\//)
      const path = route.url.replace(/:[A-Za-z]+/g, '1')
      for (const target of spellings(path, server.url)) {
        const body = route.method === 'GET' || route.method === 'HEAD' ? undefined : EVIL
        const response = await rawRequest(server.url, route.method, target, { body })
        const what = `${route.method} ${target} (route ${route.url})`
        // Outside /api/, a spelling the router does not take for the route (a trailing slash) is a UI
        // page: the UI shell, like any unknown page, and never the route's answer.
        if (!path.startsWith('/api/') && response.status === 200 && response.body.includes('Strata UI shell'))
          continue
        expect(response.status, what).toBe(401)
        if (route.method !== 'HEAD')
          expect(JSON.parse(response.body).error.code, what).toBe('UNAUTHENTICATED')
        checked++
      }
    }
    expect(checked).toBeGreaterThan(400)
    for (const target of ['/METRICS', '/metrics/', '/Metrics'])
      expect((await rawRequest(server.url, 'GET', target)).body, target).not.toMatch(/strata_|process_cpu/)
    const users = (await admin.get('/api/users')).body as { username: string }[]
    expect(users.map((u) => u.username)).toEqual(['admin'])
  })

  it("refuses the review's attack: an admin created through /%61pi/users or an absolute-form target", async () => {
    for (const target of ['/%61pi/users', `${server.url}/api/users`, '//api/users', '/api/./users']) {
      const response = await rawRequest(server.url, 'POST', target, { body: EVIL })
      expect(response.status, target).toBe(401)
    }
    const users = (await admin.get('/api/users')).body as { username: string }[]
    expect(users.map((u) => u.username)).toEqual(['admin'])
    expect((await new ApiClient(server.url).login('evil', 'evil-password')).status).toBe(401)
  })

  it('tells an anonymous caller nothing about unknown paths, and serves the UI shell to browsers', async () => {
    for (const [method, target] of [
      ['GET', '/api/nothing'],
      ['GET', '/api/users/1/x'],
      ['GET', '//api/users'],
      ['GET', '/%2561pi/users'],
      ['POST', '/nothing'],
      ['DELETE', '/jobs/1'],
      ['GET', '/API/openapi.json'],
    ] as const) {
      const response = await rawRequest(server.url, method, target)
      expect(response.status, `${method} ${target}`).toBe(401)
      expect(JSON.parse(response.body).error.code).toBe('UNAUTHENTICATED')
    }
    const shell = await rawRequest(server.url, 'GET', '/jobs/some-job')
    expect(shell.status).toBe(200)
    expect(shell.body).toContain('Strata UI shell')
    expect((await rawRequest(server.url, 'GET', '/assets/app.js')).body).toContain('console.log')
    expect((await rawRequest(server.url, 'GET', '/api/health')).body).toBe('{"status":"ok"}')
    expect((await new ApiClient(server.url).get('/api/openapi.json')).status).toBe(401)
    // Once logged in, an unknown API path is a plain 404.
    const missing = await admin.get('/api/nothing')
    expect(missing.status).toBe(404)
    expect(missing.body.error.code).toBe('NOT_FOUND')
    expect((await admin.get('/api/openapi.json')).body.paths['/api/users']).toBeDefined()
  })
})
