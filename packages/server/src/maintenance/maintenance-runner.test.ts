// In a cluster, only the leader starts maintenance by its schedules: a follower's timer looks at nothing.
import { describe, expect, it } from 'vitest'
import { MaintenanceRunner, type MaintenanceDeps } from './maintenance-runner.js'

describe('MaintenanceRunner in a cluster', () => {
  it('starts no scheduled task on an instance that does not lead', async () => {
    let looked = 0
    let leads = false
    const deps = {
      repositories: {
        list: () => {
          looked++
          return []
        },
      },
      closing: new AbortController().signal,
      leads: () => leads,
    } as unknown as MaintenanceDeps
    const runner = new MaintenanceRunner(deps)
    expect(await runner.tick()).toEqual([])
    expect(looked).toBe(0)
    leads = true
    expect(await runner.tick()).toEqual([])
    expect(looked).toBe(1)
  })
})
