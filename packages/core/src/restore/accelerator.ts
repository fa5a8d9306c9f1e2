// Whether the libguestfs appliance can use KVM here. Some hosts expose /dev/kvm yet abort every guest
// (qemu: "failed to set MSR 0x10a"): libguestfs then fails after seconds instead of falling back. A
// qemu started paused with KVM, asked its status over QMP and told to quit, answers in a fraction of a
// second and shows both cases; the answer is kept for the process. STRATA_GUESTFS_ACCEL=kvm|tcg decides
// without probing.
import { spawn } from 'node:child_process'
import { constants } from 'node:fs'
import { access } from 'node:fs/promises'

export interface Accelerator {
  readonly kind: 'kvm' | 'tcg'
  /** Why not KVM, when TCG was chosen. */
  readonly reason?: string
}

let probed: Promise<Accelerator> | undefined

export function chooseAccelerator(env: NodeJS.ProcessEnv = process.env): Promise<Accelerator> {
  const forced = env.STRATA_GUESTFS_ACCEL
  if (forced === 'kvm') return Promise.resolve({ kind: 'kvm' })
  if (forced === 'tcg') return Promise.resolve({ kind: 'tcg', reason: 'STRATA_GUESTFS_ACCEL=tcg' })
  probed ??= probeKvm()
  return probed
}

/** Starts qemu with KVM, paused, and quits it over QMP: exit 0 means a guest could run. */
export async function probeKvm(timeoutMs = 15_000): Promise<Accelerator> {
  try {
    await access('/dev/kvm', constants.R_OK | constants.W_OK)
  } catch {
    return { kind: 'tcg', reason: '/dev/kvm is missing or not accessible' }
  }
  const args = ['-nodefaults', '-nographic', '-machine', 'q35,accel=kvm', '-cpu', 'host', '-m', '64']
  const child = spawn('qemu-system-x86_64', [...args, '-S', '-no-user-config', '-qmp', 'stdio'], {
    stdio: ['pipe', 'pipe', 'pipe'],
  })
  let output = ''
  child.stdout.on('data', (d: Buffer) => (output += d.toString()))
  child.stderr.on('data', (d: Buffer) => (output += d.toString()))
  child.stdin.on('error', () => {})
  child.stdin.end('{"execute":"qmp_capabilities"}\n{"execute":"query-status"}\n{"execute":"quit"}\n')
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => {
    child.once('error', () => resolve([null, null]))
    child.once('close', (c, s) => resolve([c, s]))
  })
  clearTimeout(timer)
  if (code === 0 && output.includes('"status"')) return { kind: 'kvm' }
  const error = output.split('\n').find((line) => /error|kvm/i.test(line) && !line.startsWith('{'))
  return {
    kind: 'tcg',
    reason: `qemu with KVM ${signal !== null ? `died (${signal})` : `exited ${code}`}${error === undefined ? '' : `: ${error.trim()}`}`,
  }
}
