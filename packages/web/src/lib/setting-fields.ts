// How the editor shows each setting of a job. The table must name every setting of the contract
// (`satisfies` below): a setting added to the job schema is a type error here until it is given a label
// and a kind, and from then on the settings editor shows it.
import { SETTINGS_DEFAULTS, type CompleteSettings } from '@strata/contract'

export type SettingField =
  /** Edited elsewhere in the form. */
  | { readonly kind: 'elsewhere' }
  | {
      readonly kind: 'count'
      readonly label: string
      readonly hint?: string
      readonly min: number
      readonly max?: number
    }
  | { readonly kind: 'boolean'; readonly label: string; readonly excludes?: keyof CompleteSettings }
  | { readonly kind: 'choice'; readonly label: string; readonly options: readonly string[] }
  | { readonly kind: 'duration'; readonly label: string; readonly hint: string }
  /** Bytes per second, edited in MiB/s. */
  | { readonly kind: 'rate'; readonly label: string; readonly hint: string }

const d = SETTINGS_DEFAULTS

export const SETTING_FIELDS = {
  mode: { kind: 'elsewhere' },
  vmConcurrency: { kind: 'count', label: 'VMs at once', hint: `default ${d.vmConcurrency}; 0 = all`, min: 0 },
  fullInterval: {
    kind: 'count',
    label: 'Full backup every N runs',
    hint: `0 = never forced; default ${d.fullInterval}`,
    min: 0,
  },
  retries: { kind: 'count', label: 'Retries of a failed VM', hint: `default ${d.retries}`, min: 0 },
  timeout: { kind: 'duration', label: 'Timeout', hint: 'e.g. 30m, 6h, 1d; 0 = none' },
  maxBytesPerSecond: { kind: 'rate', label: 'Rate limit per VM', hint: 'MiB/s, 0 = none' },
  nbdConnections: {
    kind: 'count',
    label: 'NBD connections per disk',
    hint: `default ${d.nbdConnections}`,
    min: 1,
    max: 16,
  },
  changedBlocks: {
    kind: 'choice',
    label: 'Changed blocks',
    options: ['auto', 'cbt', 'vhd-bat', 'vhd-stream', 'full'],
  },
  preferNbd: { kind: 'boolean', label: 'Read disks over NBD' },
  offline: {
    kind: 'boolean',
    label: 'Offline backup (shut the VM down around the snapshot)',
    excludes: 'withMemory',
  },
  withMemory: { kind: 'boolean', label: 'With memory (checkpoint)', excludes: 'offline' },
} as const satisfies { readonly [K in keyof CompleteSettings]: SettingField }

export type SettingKey = keyof CompleteSettings

/** The settings of one kind, in the table's order. */
export function settingsOfKind<K extends SettingField['kind']>(
  kind: K,
): [SettingKey, Extract<SettingField, { kind: K }>][] {
  return (Object.entries(SETTING_FIELDS) as [SettingKey, SettingField][]).filter(
    (e): e is [SettingKey, Extract<SettingField, { kind: K }>] => e[1].kind === kind,
  )
}
