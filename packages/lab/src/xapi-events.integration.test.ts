// The client's event loop and object cache against the lab's event.from.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { XapiClient, XapiEventLoop, callAsync } from '@strata/core/xapi'
import { requireBinary } from '@strata/core/testing'
import { LabPool } from './lab-pool.js'

async function until(check: () => boolean, what: string, ms = 5000): Promise<void> {
  for (const end = Date.now() + ms; !check();) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 10))
  }
}

describe('event.from loop and object cache', () => {
  let lab: LabPool
  let client: XapiClient
  let events: XapiEventLoop

  beforeAll(async () => {
    requireBinary('mke2fs')
    lab = await LabPool.start({
      authFailureDelayMs: 10,
      nbd: false,
      vms: [{ name: 'web-01', power: 'Running', disks: [8] }],
    })
    client = new XapiClient(lab.connection)
    events = new XapiEventLoop(client, { pollSeconds: 5, retryDelayMs: 20 })
  })
  afterAll(async () => {
    await events?.stop()
    await client?.close()
    await lab?.close()
  })

  it('fills the cache with the subscribed classes only', async () => {
    events.subscribe('VM', 'pool')
    await events.ready()
    const vms = [...events.cache.all('vm').values()].map((r) => r.name_label)
    expect(vms).toContain('web-01')
    expect(events.cache.all('pool').size).toBe(1)
    expect(events.cache.all('vdi').size).toBe(0)
  })

  it('applies changes as they happen, including the pool other_config barrier', async () => {
    const vm = lab.ref('VM', 'web-01')
    await client.call('VM.set_name_label', [vm, 'web-01-renamed'])
    await until(() => events.cache.get('vm', vm)?.name_label === 'web-01-renamed', 'the rename')
    const [pool] = await client.call<string[]>('pool.get_all', [])
    await client.call('pool.add_to_other_config', [pool, 'xo:barrier:1', '1'])
    await until(
      () => (events.cache.get('pool', pool!)?.other_config as Record<string, string>)['xo:barrier:1'] === '1',
      'the barrier',
    )
    await client.call('VM.set_name_label', [vm, 'web-01'])
  })

  it('adds classes on a new subscription and sees objects deleted', async () => {
    events.subscribe('VDI')
    await events.ready()
    expect(events.cache.all('vdi').size).toBeGreaterThan(0)
    const [sr] = await client.call<string[]>('SR.get_all', [])
    const vdi = await client.call<string>('VDI.create', [
      {
        name_label: 'tmp',
        SR: sr,
        virtual_size: 1 << 20,
        type: 'user',
        sharable: false,
        read_only: false,
        other_config: {},
      },
    ])
    await until(() => events.cache.get('vdi', vdi) !== undefined, 'the new VDI')
    await client.call('VDI.destroy', [vdi])
    await until(() => events.cache.get('vdi', vdi) === undefined, 'the VDI to go')
  })

  it('empties the cache when the pool is unreachable and refills it when it is back', async () => {
    let cleared = 0
    events.cache.on('clear', () => cleared++)
    await lab.restartToolstack(300)
    await until(() => cleared > 0, 'the cache to be emptied')
    await until(() => events.cache.all('vm').size > 0, 'the cache to refill')
  })

  it('watches Async tasks through the event loop instead of polling', async () => {
    events.subscribe('task')
    await events.ready()
    const polls = lab.calls.get('task.get_record') ?? 0
    const vm = lab.ref('VM', 'web-01')
    const snap = await callAsync<string>(client, 'VM.snapshot', [vm, 'watched', []], { events })
    expect(await client.call('VM.get_name_label', [snap])).toBe('watched')
    expect(lab.calls.get('task.get_record') ?? 0).toBe(polls)
  })
})
