// The UI end to end, restores: a VM restored onto the lab pool once the admin confirmed what it creates,
// a point's files browsed and downloaded as a zip, and the restore point browser (protect, delete).
// Starts where the first day ends (ui-fixture.ts): the pool, the repository and the smart job, run once.
import { execFile } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { describe, expect, it } from 'vitest'
import { requireBinary } from '@strata/core/testing'
import type { Page } from 'playwright-core'
import {
  browsePoints,
  confirmRestore,
  nav,
  restoreFacts,
  secondBackup,
  setRestoreTag,
} from './admin-steps.js'
import type { Stack } from './stack.js'
import { BOOT, JOB, STEP, WAIT, afterFirstDay, useStack } from './ui-fixture.js'

const RESTORE_TAG = 'restored by e2e'

describe('web UI end to end: restores', { timeout: STEP }, () => {
  let stack: Stack
  let admin: Page
  useStack(async (s, a) => {
    ;[stack, admin] = [s, a]
    await afterFirstDay(stack, admin)
  })

  it('restores the VM onto the lab pool, once the admin confirmed what it creates', async () => {
    await setRestoreTag(admin, RESTORE_TAG)
    const before = stack.lab.vmNames().filter((n) => n.startsWith('web-01')).length
    await nav(admin, 'Restore').click()
    await admin.locator('select[name=restore-repository]').selectOption({ label: 'local' })
    await admin.locator('select[name=restore-vm]').selectOption({ index: 1 })
    await admin.locator('[data-point]').first().waitFor()
    await admin.locator('select[name=restore-pool]').selectOption({ label: 'lab' })
    await expect.poll(() => admin.locator('select[name=restore-sr]').inputValue(), WAIT).not.toBe('')
    await stack.screenshot(admin, 'restore')
    await confirmRestore(stack, admin, RESTORE_TAG)
    await admin.locator('.restore-started .badge[data-status="success"]').waitFor({ timeout: 120_000 })
    await stack.screenshot(admin, 'restore-done')
    await restoreFacts(stack, admin)
    expect(stack.lab.vmNames().filter((n) => n.startsWith('web-01')).length).toBe(before + 1)
    await nav(admin, 'Pools').click()
    await admin.locator('tr[data-pool="lab"]').getByRole('button', { name: 'VMs', exact: true }).click()
    await expect.poll(() => admin.locator('li[data-vm^="web-01"]').count(), WAIT).toBe(before + 1)
  })

  it('browses the files of a restore point and downloads a folder as a zip', { timeout: BOOT }, async () => {
    requireBinary('guestfish')
    await nav(admin, 'Restore').click()
    await admin.locator('select[name=restore-repository]').selectOption({ label: 'local' })
    await admin.locator('select[name=restore-vm]').selectOption({ index: 1 })
    await admin.locator('[data-point]').first().waitFor()
    await admin.getByRole('link', { name: 'Browse files' }).first().click()
    await expect.poll(() => new URL(admin.url()).pathname, WAIT).toMatch(/^\/restore\/files\//)
    // The seed disk: an MBR and one ext4 partition, chosen without asking. The appliance starts first.
    await admin.locator('tr.entry[data-path="/etc"]').waitFor({ timeout: BOOT - 60_000 })
    await admin.locator('tr.entry[data-path="/etc"] a').click()
    await admin.locator('tr.entry[data-path="/etc/hostname"]').waitFor()
    await admin.locator('nav.crumbs a[data-path="/"]').click()
    await admin.getByLabel('Select /etc', { exact: true }).check()
    await admin.locator('input[name=files-search]').fill('DISK-0')
    await admin.getByRole('button', { name: 'Search' }).click()
    await admin.getByLabel('Select /srv/web-01/disk-0.txt').check()
    await stack.screenshot(admin, 'files')
    const [download] = await Promise.all([
      admin.waitForEvent('download'),
      admin.getByRole('link', { name: 'Download as zip' }).click(),
    ])
    const zip = stack.scratch.path('files.zip')
    await download.saveAs(zip)
    const unzipped = stack.scratch.path('files')
    await promisify(execFile)('unzip', ['-q', zip, '-d', unzipped])
    expect(await readFile(join(unzipped, 'etc/hostname'), 'utf8')).toBe('web-01\n')
    expect(await readFile(join(unzipped, 'etc/os-release'), 'utf8')).toContain('ID=debian')
    expect(await readFile(join(unzipped, 'disk-0.txt'), 'utf8')).toBe(
      'disk 0 of web-01, seeded by the Strata lab\n',
    )
    await nav(admin, 'Overview').click() // leaving the page ends the browsing session
    await expect.poll(() => stack.server.context.files.size, WAIT).toBe(0)
  })

  it('browses the restore points: a protected one cannot be deleted, another is deleted', async () => {
    await secondBackup(admin, JOB)
    await browsePoints(stack, admin)
  })
})
