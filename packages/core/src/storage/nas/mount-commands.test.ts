import { describe, expect, it } from 'vitest'
import {
  credentialsFileText,
  MountError,
  mountCommand,
  mountFailure,
  spawnFailure,
  unmountCommand,
} from './mount-commands.js'
import { parseNasLocation } from './nas-location.js'

const smb = parseNasLocation('smb://backup@10.0.0.5:4450/Backups/strata?vers=3.0')
const nfs = parseNasLocation('nfs://nas/export/strata?vers=4.2')

describe('mount commands', () => {
  it('mounts SMB with a credentials file, the port and version, owner-only modes and no executables', () => {
    expect(mountCommand(smb, '/var/lib/strata/mounts/smb-x', '/tmp/strata-cifs-1/credentials')).toEqual({
      command: 'mount.cifs',
      args: [
        '//10.0.0.5/Backups',
        '/var/lib/strata/mounts/smb-x',
        '-o',
        'nosuid,nodev,noexec,port=4450,vers=3.0,credentials=/tmp/strata-cifs-1/credentials,file_mode=0600,dir_mode=0700',
      ],
    })
  })

  it('mounts NFS hard, without remote locks, with the version asked for', () => {
    expect(mountCommand(nfs, '/m/nfs-x')).toEqual({
      command: 'mount.nfs',
      args: ['nas:/export/strata', '/m/nfs-x', '-o', 'nosuid,nodev,noexec,vers=4.2,hard,nolock'],
    })
    expect(unmountCommand('/m/nfs-x')).toEqual({ command: 'umount', args: ['/m/nfs-x'] })
  })

  it('refuses to mount SMB without a credentials file, or with one whose path would split the options', () => {
    expect(() => mountCommand(smb, '/m')).toThrow(MountError)
    expect(() => mountCommand(smb, '/m', '/tmp/a,guest/credentials')).toThrow(/no usable credentials file/)
  })

  it('writes the credentials file of mount.cifs, and refuses values that would add a line', () => {
    expect(credentialsFileText('backup', 'p=ss word', 'CORP')).toBe(
      'username=backup\npassword=p=ss word\ndomain=CORP\n',
    )
    expect(credentialsFileText('backup', 'x')).toBe('username=backup\npassword=x\n')
    expect(() => credentialsFileText('backup', 'a\nusername=root')).toThrow(
      expect.objectContaining({ reason: 'no-credentials', code: 'INVALID_LOCATION' }),
    )
  })
})

describe('what a failed mount means', () => {
  const failed = (stderr: string, location = smb) =>
    mountFailure(location, { code: 32, stdout: '', stderr }, 's3cret')

  it.each([
    [
      'mount error(13): Permission denied\nRefer to the mount.cifs(8) manual page',
      'bad-credentials',
      'ACCESS_DENIED',
      false,
    ],
    [
      'mount error(113): could not connect to 10.0.0.5Unable to find suitable address.',
      'unreachable',
      'TRANSIENT',
      true,
    ],
    ['mount error(112): Host is down', 'unreachable', 'TRANSIENT', true],
    ['mount error: could not resolve address for nas: Unknown error', 'unreachable', 'TRANSIENT', true],
    ['mount error(2): No such file or directory', 'no-such-share', 'INVALID_LOCATION', false],
    [
      'mount error: cifs filesystem not supported by the system\nmount error(19): No such device',
      'unsupported',
      'STORE_FAILED',
      false,
    ],
    ['mount error(22): Invalid argument', 'failed', 'STORE_FAILED', false],
  ])('mount.cifs saying %j is %s', (stderr, reason, code, retryable) => {
    const error = failed(stderr)
    expect(error).toMatchObject({ reason, code, retryable })
    expect(error.message).toMatch(/^cannot mount smb:\/\/backup@10\.0\.0\.5:4450\/Backups\/strata: /)
  })

  it.each([
    ['mount.nfs: access denied by server while mounting nas:/export/strata', 'bad-credentials'],
    ['mount.nfs: Connection refused', 'unreachable'],
    ['mount.nfs: Connection timed out', 'unreachable'],
    ['mount.nfs: No route to host', 'unreachable'],
    ['mount.nfs: Failed to resolve server nas: Name or service not known', 'unreachable'],
    [
      'mount.nfs: mounting nas:/export/strata failed, reason given by server: No such file or directory',
      'no-such-share',
    ],
    ['mount.nfs: No such device', 'unsupported'],
  ])('mount.nfs saying %j is %s', (stderr, reason) => {
    expect(failed(stderr, nfs)).toMatchObject({ reason })
  })

  it('says what to check, and never repeats the password even if the command printed it', () => {
    const error = failed('mount error(13): Permission denied for s3cret')
    expect(error.message).toMatch(/check the user name or STRATA_SMB_PASSWORD/)
    expect(error.message).not.toContain('s3cret')
    expect(JSON.stringify(error.details)).not.toContain('s3cret')
  })

  it('names the package to install when a mount command is missing', () => {
    const missing = Object.assign(new Error('spawn mount.cifs ENOENT'), { code: 'ENOENT' })
    expect(spawnFailure(smb, 'mount.cifs', missing)).toMatchObject({
      reason: 'not-installed',
      code: 'STORE_FAILED',
      message: expect.stringMatching(/mount\.cifs is not installed \(Debian package cifs-utils/),
    })
    expect(spawnFailure(nfs, 'mount.nfs', missing).message).toMatch(/nfs-common/)
  })
})
