// The XAPI client against the lab: sessions, failover, tasks and their failures, faults.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import {
  XapiClient,
  XapiTaskLostError,
  callAsync,
  checkpointVm,
  cloneVm,
  destroyVm,
  isXapiError,
  snapshotVm,
  waitTask,
} from '@strata/core/xapi'
import { requireBinary } from '@strata/core/testing'
import { LabPool } from './lab-pool.js'

const ONE_SMALL_VM = [{ name: 'web-01', power: 'Running' as const, disks: [8] }]

describe('XAPI client sessions against a two-host lab', () => {
  let lab: LabPool
  const clients: XapiClient[] = []
  /** A client pinned to the host `url` names; `pool` is the lab it belongs to. */
  const connect = (url = lab.url, password = lab.password, pool = lab): XapiClient => {
    const host = pool.hosts.find((h) => h.url === url)!
    const c = new XapiClient({ url, user: pool.user, password, fingerprint: host.fingerprint })
    clients.push(c)
    return c
  }

  beforeAll(async () => {
    requireBinary('mke2fs')
    lab = await LabPool.start({ hosts: 2, authFailureDelayMs: 10, nbd: false, vms: ONE_SMALL_VM })
  })
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.close()))
    lab.faults.clear()
  })
  afterAll(() => lab?.close())

  it('lists VMs, and refuses bad credentials with SESSION_AUTHENTICATION_FAILED', async () => {
    const vms = await connect().call<
      Record<string, { name_label: string; is_control_domain: boolean; is_a_template: boolean }>
    >('VM.get_all_records', [])
    expect(
      Object.values(vms)
        .filter((v) => !v.is_control_domain && !v.is_a_template)
        .map((v) => v.name_label),
    ).toEqual(['web-01'])
    const error = await connect(lab.url, 'wrong')
      .connect()
      .catch((e: unknown) => e)
    expect(isXapiError(error, 'SESSION_AUTHENTICATION_FAILED')).toBe(true)
  })

  it('goes to the master when it logs in on a pool member (HOST_IS_SLAVE) and the master is pinned', async () => {
    const [master, member] = lab.hosts
    const client = new XapiClient({
      url: member!.url,
      user: lab.user,
      password: lab.password,
      fingerprint: member!.fingerprint,
      knownHosts: { [master!.address]: master!.fingerprint },
    })
    clients.push(client)
    await client.connect()
    expect(client.url.hostname).toBe(master!.address)
  })

  it('logs in again after its session expired (SESSION_INVALID)', async () => {
    const client = connect()
    const before = await client.call<string[]>('VM.get_all', [])
    lab.expireSessions()
    expect(await client.call<string[]>('VM.get_all', [])).toEqual(before)
  })

  it('tries another pool member when the master is gone', async () => {
    const client = connect()
    await client.connect()
    const [first, second] = lab.hosts
    lab.failover(second!.ref)
    await lab.stopHost(first!.ref)
    try {
      lab.expireSessions()
      expect((await client.call<string[]>('host.get_all', [])).length).toBe(2)
      expect(client.url.hostname).toBe(second!.address)
    } finally {
      lab.failover(first!.ref)
      await lab.restartToolstack(0)
    }
  })

  it('raises the task failure of an Async call as XapiError with code and params', async () => {
    const vm = lab.ref('VM', 'web-01')
    const error = await callAsync(connect(), 'VM.clone', [vm, 'copy']).catch((e: unknown) => e)
    expect(isXapiError(error, 'VM_BAD_POWER_STATE')).toBe(true)
    expect((error as { params: string[] }).params).toEqual([vm, 'halted, suspended', 'running'])
  })

  it('refuses a second operation on a VM while one runs (OTHER_OPERATION_IN_PROGRESS)', async () => {
    const client = connect()
    const vm = lab.ref('VM', 'web-01')
    lab.state.stepMs = 500 // a slow snapshot, so that the second call surely finds it running
    const first = await client.call<string>('Async.VM.snapshot', [vm, 'first', []])
    const second = await callAsync(client, 'VM.snapshot', [vm, 'second', []]).catch((e: unknown) => e)
    lab.state.stepMs = 20
    expect(second).toMatchObject({ code: 'OTHER_OPERATION_IN_PROGRESS' })
    expect((second as { params: string[] }).params).toEqual(['VM', vm, 'snapshot', first])
    expect(await waitTask(client, first)).toMatch(/^OpaqueRef:/)
  })

  it('raises an injected failure once, then succeeds', async () => {
    lab.faults.failMethod('VM.get_all', 'TOO_MANY_PENDING_TASKS')
    const client = connect()
    const error = await client.call('VM.get_all', []).catch((e: unknown) => e)
    expect(isXapiError(error, 'TOO_MANY_PENDING_TASKS')).toBe(true)
    expect((error as { retryable: boolean }).retryable).toBe(true)
    expect(Array.isArray(await client.call('VM.get_all', []))).toBe(true)
  })

  it('cancels the task when the caller aborts', async () => {
    const client = connect()
    const vm = lab.ref('VM', 'web-01')
    const task = await client.call<string>('Async.VM.snapshot', [vm, 'to-cancel', []])
    const controller = new AbortController()
    controller.abort(new Error('user stop'))
    await expect(waitTask(client, task, { signal: controller.signal })).rejects.toMatchObject({
      code: 'ABORTED',
    })
    // xapi stops the operation at its next checkpoint: the task ends cancelled, not at once.
    await expect(waitTask(client, task)).rejects.toMatchObject({ code: 'TASK_CANCELLED', params: [task] })
    const record = await client.call<{ status: string }>('task.get_record', [task])
    expect(record.status).toBe('cancelled')
  })

  it('reports a task that vanished in a toolstack restart as XAPI_TASK_LOST', async () => {
    const client = connect()
    const task = await client.call<string>('task.create', ['pending forever', ''])
    const waiting = waitTask(client, task)
    await lab.restartToolstack(50)
    await expect(waiting).rejects.toBeInstanceOf(XapiTaskLostError)
  })

  it('snapshots without ignore_vdis support on an 8.2 host by falling back (MESSAGE_PARAMETER_COUNT_MISMATCH)', async () => {
    const old = await LabPool.start({
      profile: 'xcp-ng-8.2',
      authFailureDelayMs: 10,
      nbd: false,
      vms: ONE_SMALL_VM,
    })
    try {
      const client = connect(old.url, old.password, old)
      const vm = old.ref('VM', 'web-01')
      const [vdi] = old.guest.disks(vm)
      const raw = await client.call('VM.snapshot', [vm, 'x', [vdi]]).catch((e: unknown) => e)
      expect(raw).toMatchObject({
        code: 'MESSAGE_PARAMETER_COUNT_MISMATCH',
        params: ['VM.snapshot', '2', '3'],
      })
      const warnings: string[] = []
      const snap = await snapshotVm(client, vm, 'nobak', {
        ignoreVdis: [vdi!],
        onFallback: (w) => warnings.push(w),
      })
      expect(warnings).toHaveLength(1)
      expect(await client.call<string[]>('VM.get_VBDs', [snap])).toHaveLength(2) // disk + CD: nothing ignored
    } finally {
      await old.close()
    }
  })

  it('checkpoints a running VM (a Suspended snapshot) and clones the checkpoint into a new VM', async () => {
    const client = connect()
    const vm = lab.ref('VM', 'web-01')
    const checkpoint = await checkpointVm(client, vm, 'with-memory')
    expect(await client.call('VM.get_record', [checkpoint])).toMatchObject({
      is_a_snapshot: true,
      power_state: 'Suspended',
      snapshot_info: { 'power-state-at-snapshot': 'Running' },
    })
    const clone = await cloneVm(client, checkpoint, 'from-checkpoint')
    expect(await client.call('VM.get_record', [clone])).toMatchObject({
      is_a_snapshot: false,
      name_label: 'from-checkpoint',
    })
    await destroyVm(client, clone)
    await expect(client.call('VM.get_record', [clone])).rejects.toMatchObject({ code: 'HANDLE_INVALID' })
  })

  it('leaves ignored disks out of a snapshot on 8.3', async () => {
    const client = connect()
    const vm = lab.ref('VM', 'web-01')
    const [vdi] = lab.guest.disks(vm)
    const snap = await snapshotVm(client, vm, 'nobak', {
      ignoreVdis: [vdi!],
      onFallback: () => expect.fail('no fallback on 8.3'),
    })
    const vbds = await client.call<string[]>('VM.get_VBDs', [snap])
    const types = await Promise.all(vbds.map((v) => client.call<string>('VBD.get_type', [v])))
    expect(types).toEqual(['CD'])
  })
})
