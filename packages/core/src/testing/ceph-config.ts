// ceph.conf of the single-node test cluster: no authentication, one memstore OSD, pools of size 1.
// Without the two "update on start = false" lines the OSD dies with 'wrong fsid' on this setup.
export interface CephConfigInput {
  readonly dir: string
  readonly fsid: string
  readonly monPort: number
  readonly rgwPort: number
  /** RAM the OSD may use for objects (default 4 GiB; memstore only allocates what is stored). */
  readonly memstoreBytes?: number
}

export function cephConfig({
  dir,
  fsid,
  monPort,
  rgwPort,
  memstoreBytes = 4 * 1024 ** 3,
}: CephConfigInput): string {
  return `[global]
fsid = ${fsid}
mon host = v1:127.0.0.1:${monPort}
mon initial members = a
public network = 127.0.0.0/8
auth cluster required = none
auth service required = none
auth client required = none
auth supported = none
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
mon allow pool size one = true
mon warn on pool no redundancy = false
osd crush chooseleaf type = 0
mon allow pool delete = true
run dir = ${dir}/run
log file = ${dir}/log/$name.log
admin socket = ${dir}/run/$name.asok
pid file = ${dir}/run/$name.pid
keyring = ${dir}/keyring
mon data = ${dir}/mon
osd data = ${dir}/osd0
osd objectstore = memstore
memstore device bytes = ${memstoreBytes}
osd max object name len = 460
osd max object namespace len = 64
mon max pg per osd = 1000
osd class update on start = false
osd crush update on start = false
ms bind ipv6 = false
[client.rgw.0]
rgw frontends = beast endpoint=127.0.0.1:${rgwPort}
rgw data = ${dir}/rgw
rgw dns name = localhost
`
}
