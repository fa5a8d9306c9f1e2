import { describe, expect, it } from 'vitest'
import { cleanSettings, defaultJob, describeSelection, splitList, toJobInput } from './job-form'

describe('job form', () => {
  it('sends only the settings that were filled in, and tidy smart rules', () => {
    const form = defaultJob()
    form.name = '  Nightly '
    form.settings = { retries: 2, timeout: '', maxBytesPerSecond: Number.NaN, preferNbd: false }
    form.vms = { smart: { pools: ['p1'], tags: ['prod', ' prod', ''], excludeTags: [], excludeUuids: [] } }
    const input = toJobInput(form)
    expect(input.name).toBe('Nightly')
    expect(input.settings).toEqual({ retries: 2, preferNbd: false })
    expect(input.vms).toEqual({ smart: { pools: ['p1'], tags: ['prod'], excludeTags: [], excludeUuids: [] } })
    expect(cleanSettings({ a: 0 })).toEqual({ a: 0 })
  })

  it('summarises a selection in one line', () => {
    const smart = {
      pools: ['p1'],
      tags: ['prod'],
      powerState: 'Running' as const,
      excludeTags: ['tmp'],
      excludeUuids: [],
    }
    expect(describeSelection({ smart }, (id) => (id === 'p1' ? 'lab' : id))).toBe(
      'Smart: lab · tags prod · Running · not tmp',
    )
    expect(describeSelection({ uuids: ['a', 'b'] })).toBe('2 VMs')
    expect(splitList('prod, web\nx,')).toEqual(['prod', 'web', 'x'])
  })
})
