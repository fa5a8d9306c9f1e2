// Real NBD servers for the integration tests: nbdkit and qemu-nbd on unix sockets in a scratch folder
// (no port races), started in the foreground and always killed by `stop()`.
import { spawn, type ChildProcess } from 'node:child_process'
import { stat } from 'node:fs/promises'
import { requireBinary } from '../../testing/binaries.js'
import { sleep } from '../../shared/abort.js'

export interface RunningServer {
  readonly socketPath: string
  /** nbd+unix URI for libnbd tools (nbdinfo, nbdcopy). */
  uri(exportName?: string, tlsDir?: string): string
  stop(): Promise<void>
}

async function waitForSocket(path: string, child: ChildProcess, stderr: () => string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (child.exitCode !== null) throw new Error(`server exited early (${child.exitCode}): ${stderr()}`)
    if (
      await stat(path).then(
        () => true,
        () => false,
      )
    )
      return
    await sleep(25)
  }
  throw new Error(`server socket ${path} did not appear: ${stderr()}`)
}

async function start(
  binary: string,
  args: string[],
  socketPath: string,
  tls: boolean,
): Promise<RunningServer> {
  const child = spawn(requireBinary(binary), args, { stdio: ['ignore', 'ignore', 'pipe'] })
  let err = ''
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()))
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  try {
    await waitForSocket(socketPath, child, () => err)
  } catch (error) {
    child.kill('SIGKILL')
    throw error
  }
  return {
    socketPath,
    uri: (exportName = '', tlsDir) =>
      `${tls ? 'nbds' : 'nbd'}+unix:///${encodeURIComponent(exportName)}?socket=${socketPath}` +
      (tlsDir === undefined ? '' : `&tls-certificates=${tlsDir}`),
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM')
      const timer = setTimeout(() => child.kill('SIGKILL'), 3000)
      await exited
      clearTimeout(timer)
    },
  }
}

/** nbdkit PLUGIN [ARGS...] on `socketPath`; `options` go before the plugin (filters, --no-sr, --tls...). */
export function startNbdkit(
  socketPath: string,
  plugin: string[],
  options: string[] = [],
): Promise<RunningServer> {
  const tls = options.some((o) => o.startsWith('--tls=require'))
  return start(
    'nbdkit',
    ['-f', '--exit-with-parent', '-U', socketPath, ...options, ...plugin],
    socketPath,
    tls,
  )
}

/** qemu-nbd serving `file` read-only as export `name`, several clients allowed, optionally over TLS. */
export function startQemuNbd(
  socketPath: string,
  file: string,
  {
    name = 'disk',
    format = 'raw',
    tlsDir,
    extra = [],
  }: { name?: string; format?: string; tlsDir?: string; extra?: string[] } = {},
): Promise<RunningServer> {
  const tls =
    tlsDir === undefined
      ? []
      : [
          '--object',
          `tls-creds-x509,id=tls0,dir=${tlsDir},endpoint=server,verify-peer=on`,
          '--tls-creds',
          'tls0',
        ]
  return start(
    'qemu-nbd',
    ['-r', '-f', format, '-k', socketPath, '-x', name, '-t', '-e', '16', ...tls, ...extra, file],
    socketPath,
    tlsDir !== undefined,
  )
}

/** Runs a tool to completion; resolves stdout, rejects with stderr on failure. */
export function runTool(binary: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(requireBinary(binary), args, { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    let err = ''
    child.stdout.on('data', (d: Buffer) => (out += d.toString()))
    child.stderr.on('data', (d: Buffer) => (err += d.toString()))
    child.on('error', reject)
    child.on('close', (code) =>
      code === 0 ? resolve(out) : reject(new Error(`${binary} ${args.join(' ')} exited ${code}: ${err}`)),
    )
  })
}

/** `nbdinfo --map` of a URI as extents (offset, length, flags). */
export async function nbdinfoMap(
  uri: string,
  context?: string,
): Promise<{ offset: number; length: number; flags: number }[]> {
  const out = await runTool('nbdinfo', [context === undefined ? '--map' : `--map=${context}`, '--json', uri])
  return (JSON.parse(out) as { offset: number; length: number; type: number }[]).map((e) => ({
    offset: e.offset,
    length: e.length,
    flags: e.type,
  }))
}
