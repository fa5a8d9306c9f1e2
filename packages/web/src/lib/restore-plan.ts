// What a restore will create, said before it starts: the new VM's name (the server's rule: the source's
// name and the point's date in UTC, docs/api.md "Restores") and the tag it gets.
import type { Settings } from '@strata/contract'

export const DEFAULT_RESTORE_TAG = 'restored from backup'

/** `web-01 (restored 2026-12-07 02:00)`. */
export function restoredVmName(source: string, pointTime: number): string {
  return `${source} (restored ${new Date(pointTime).toISOString().slice(0, 16).replace('T', ' ')})`
}

/** The tag a restored VM gets: the setting, its default while absent; undefined when set to none. */
export function restoreTag(settings: Settings | undefined): string | undefined {
  const tag = settings?.restoreTag ?? DEFAULT_RESTORE_TAG
  return tag === '' ? undefined : tag
}
