// Whether the libguestfs appliance can use KVM here. Some hosts expose /dev/kvm yet abort every guest
// (qemu: "failed to set MSR 0x10a"); others run a boot sector under KVM but hang a Linux kernel in
// its first instructions, forever, with nothing on the console (nested KVM on some clouds). libguestfs
// falls back on neither. So the probe boots the kernel the appliance will boot, under KVM, with no root
// filesystem: a working KVM reaches "Kernel panic" in a second or two and exits; a broken one hangs or
// aborts and is killed at 20 s. The answer is kept for the process and, keyed by the boot id, in a file
// of this user's for the next processes of the same boot. STRATA_GUESTFS_ACCEL=kvm|tcg decides without
// probing.
import { spawn } from 'node:child_process'
import { constants } from 'node:fs'
import { access, readdir } from 'node:fs/promises'
import { release } from 'node:os'
import { readCachedVerdict, writeCachedVerdict, type Accelerator } from './accelerator-cache.js'

export type { Accelerator }

let probed: Promise<Accelerator> | undefined

export function chooseAccelerator(env: NodeJS.ProcessEnv = process.env): Promise<Accelerator> {
  const forced = env.STRATA_GUESTFS_ACCEL
  if (forced === 'kvm') return Promise.resolve({ kind: 'kvm' })
  if (forced === 'tcg') return Promise.resolve({ kind: 'tcg', reason: 'STRATA_GUESTFS_ACCEL=tcg' })
  probed ??= cachedProbe(env)
  return probed
}

async function cachedProbe(env: NodeJS.ProcessEnv): Promise<Accelerator> {
  const cached = await readCachedVerdict()
  if (cached !== undefined) return cached
  const verdict = await probeKvm({ kernel: await applianceKernel(env) })
  await writeCachedVerdict(verdict)
  return verdict
}

export interface ProbeOptions {
  /** The kernel to boot; without one, a paused qemu is started and asked its status (catches aborts only). */
  readonly kernel?: string
  readonly timeoutMs?: number
  /** 'kvm' but for tests, which prove the probe itself under TCG. */
  readonly accel?: 'kvm' | 'tcg'
  readonly extraArgs?: readonly string[]
}

/** Boots the kernel under KVM with no root: "Kernel panic" and exit 0 mean a guest runs here. */
export async function probeKvm(options: ProbeOptions = {}): Promise<Accelerator> {
  const accel = options.accel ?? 'kvm'
  if (accel === 'kvm') {
    try {
      await access('/dev/kvm', constants.R_OK | constants.W_OK)
    } catch {
      return { kind: 'tcg', reason: '/dev/kvm is missing or not accessible' }
    }
  }
  const timeoutMs = options.timeoutMs ?? 20_000
  const machine = ['-machine', `accel=${accel}`, '-cpu', 'max', '-m', '256']
  const common = ['-nodefaults', '-display', 'none', '-no-user-config', ...machine]
  // Without a kernel, QMP on stdin; with one, stdin is the guest's serial console: nothing is said to it.
  const [args, input] =
    options.kernel === undefined
      ? [[...common, '-S', '-qmp', 'stdio'], QMP_STATUS_AND_QUIT]
      : [[...common, '-no-reboot', '-serial', 'stdio', '-kernel', options.kernel, '-append', KERNEL_ARGS], '']
  const { code, signal, output, errors, timedOut } = await runQemu(
    [...args, ...(options.extraArgs ?? [])],
    input,
    timeoutMs,
  )
  const ok = options.kernel === undefined ? output.includes('"status"') : output.includes('Kernel panic')
  if (code === 0 && ok) return { kind: accel }
  if (timedOut)
    return {
      kind: 'tcg',
      reason: `a guest kernel under KVM gave no sign of life in ${Math.round(timeoutMs / 1000)} s`,
    }
  const error = errors
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '')
    .at(-1)
    ?.slice(0, 300)
  return {
    kind: 'tcg',
    reason: `qemu with KVM ${signal !== null ? `died (${signal})` : `exited ${code}`}${error === undefined ? '' : `: ${error.trim()}`}`,
  }
}

/** No root filesystem: the kernel panics once booted, and reboots at once, which -no-reboot makes an exit. */
const KERNEL_ARGS = 'console=ttyS0 panic=-1 quiet'

const QMP_STATUS_AND_QUIT = '{"execute":"qmp_capabilities"}\n{"execute":"query-status"}\n{"execute":"quit"}\n'

async function runQemu(
  args: readonly string[],
  input: string,
  timeoutMs: number,
): Promise<{
  code: number | null
  signal: NodeJS.Signals | null
  output: string
  errors: string
  timedOut: boolean
}> {
  const child = spawn('qemu-system-x86_64', args, { stdio: ['pipe', 'pipe', 'pipe'] })
  let output = ''
  let errors = ''
  child.stdout.on('data', (d: Buffer) => {
    if (output.length < 65_536) output += d.toString('latin1')
  })
  child.stderr.on('data', (d: Buffer) => {
    if (errors.length < 65_536) errors += d.toString('latin1')
  })
  child.stdin.on('error', () => {})
  child.stdin.end(input)
  let timedOut = false
  const timer = setTimeout(() => {
    timedOut = true
    child.kill('SIGKILL')
  }, timeoutMs)
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => {
    child.once('error', (error) => {
      errors += String(error)
      resolve([null, null])
    })
    child.once('close', (c, s) => resolve([c, s]))
  })
  clearTimeout(timer)
  return { code, signal, output, errors, timedOut }
}

/**
 * The kernel supermin puts in the appliance: $SUPERMIN_KERNEL, else the running kernel's file, else
 * the newest in /boot (supermin's own choice); undefined when none is readable.
 */
export async function applianceKernel(env: NodeJS.ProcessEnv = process.env): Promise<string | undefined> {
  const inBoot = await readdir('/boot').catch(() => [] as string[])
  const newest = inBoot
    .filter((name) => name.startsWith('vmlinuz-'))
    .sort((a, b) => b.localeCompare(a, 'en', { numeric: true }))
    .map((name) => `/boot/${name}`)
  for (const path of [env.SUPERMIN_KERNEL, `/boot/vmlinuz-${release()}`, ...newest]) {
    if (path === undefined || path === '') continue
    try {
      await access(path, constants.R_OK)
      return path
    } catch {
      // next
    }
  }
  return undefined
}
