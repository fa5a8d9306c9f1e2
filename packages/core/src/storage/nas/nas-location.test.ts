import { describe, expect, it } from 'vitest'
import { parseLocation } from '../location.js'
import { mountName, mountSource, nasName, parseNasLocation } from './nas-location.js'

describe('NAS locations', () => {
  it('reads an NFS export and the path below it as one mount source', () => {
    const nfs = parseNasLocation('nfs://nas.example.com/export/backups/strata?vers=4.2')
    expect(nfs).toEqual({
      protocol: 'nfs',
      host: 'nas.example.com',
      path: '/export/backups/strata',
      version: '4.2',
    })
    expect(mountSource(nfs)).toBe('nas.example.com:/export/backups/strata')
    expect(parseNasLocation('nfs://[fd00::5]:2049/export')).toMatchObject({ host: '[fd00::5]', port: 2049 })
  })

  it('reads an SMB share, the user, the path inside the share and the options', () => {
    const smb = parseNasLocation('smb://backup@10.0.0.5:4450/Backups/strata/repo%201?vers=3.1.1&domain=CORP')
    expect(smb).toEqual({
      protocol: 'smb',
      host: '10.0.0.5',
      port: 4450,
      share: 'Backups',
      path: 'strata/repo 1',
      user: 'backup',
      domain: 'CORP',
      version: '3.1.1',
    })
    expect(mountSource(smb)).toBe('//10.0.0.5/Backups')
    expect(nasName(smb)).toBe('smb://backup@10.0.0.5:4450/Backups/strata/repo 1')
    expect(parseNasLocation('smb://nas/share')).toMatchObject({ share: 'share', path: '' })
  })

  it('is what parseLocation answers for nfs:// and smb://', () => {
    expect(parseLocation('smb://u@nas/share/x', {})).toMatchObject({ kind: 'nas', nas: { share: 'share' } })
    expect(parseLocation('NFS://nas/export', {})).toMatchObject({ kind: 'nas', nas: { protocol: 'nfs' } })
  })

  it('gives one mount point name per mount, shared by the repositories of one share', () => {
    const a = parseNasLocation('smb://u@nas/share/repo-a')
    const b = parseNasLocation('smb://u@nas/share/repo-b')
    expect(mountName(a, 'u')).toBe(mountName(b, 'u'))
    expect(mountName(a, 'u')).toMatch(/^smb-nas-[0-9a-f]{12}$/)
    expect(mountName(a, 'other')).not.toBe(mountName(a, 'u'))
    expect(mountName(parseNasLocation('smb://u@nas:4450/share'), 'u')).not.toBe(mountName(a, 'u'))
    expect(mountName(parseNasLocation('nfs://nas/export/a'))).not.toBe(
      mountName(parseNasLocation('nfs://nas/export/b')),
    )
  })

  it.each([
    ['smb://u:hunter2@nas/share', /a password does not belong in the URL; set STRATA_SMB_PASSWORD/],
    ['smb://nas/', /no share/],
    ['smb://nas/sha*re', /invalid share name/],
    ['smb://nas/share/../etc', /'\.' or '\.\.' in the path/],
    ['smb://nas/share/%2e%2E/etc', /'\.' or '\.\.' in the path/],
    ['nfs://nas/export/./x', /'\.' or '\.\.' in the path/],
    ['smb://nas/share/a%2Fb', /invalid path segment 'a\/b'/],
    ['smb://nas/share/a%0Ab', /invalid path segment/],
    ['smb://nas/share/a,b', /invalid path segment/],
    ['smb://us,er@nas/share', /invalid user name/],
    ['smb://nas/share?domain=a,b', /invalid domain/],
    ['smb://[::1]/share', /give an SMB server by name or IPv4 address/],
    ['smb://nas/share?vers=1.0', /vers must be one of/],
    ['smb://nas/share?uid=0', /unknown option 'uid'/],
    ['nfs://nas/export?domain=x', /unknown option 'domain'/],
    ['nfs://user@nas/export', /NFS takes no user name/],
    ['nfs://nas/', /no exported path/],
    ['nfs://na_s/export', /invalid host/],
    ['nfs://nas/export/bad%zz', /bad percent-escape/],
  ])('rejects %s with a clear INVALID_LOCATION', (location, message) => {
    expect(() => parseNasLocation(location)).toThrow(message)
    expect(() => parseNasLocation(location)).toThrow(expect.objectContaining({ code: 'INVALID_LOCATION' }))
  })

  it('never repeats a password given in the URL', () => {
    expect(() => parseNasLocation('smb://u:hunter2@nas/share')).toThrow(/^(?!.*hunter2)/)
  })
})
