#!/usr/bin/env bash
# Installs the Debian packages Strata's demo, tests and benchmarks need. Idempotent: packages already
# present are not fetched again, and apt-get update runs only when something is missing.
set -euo pipefail

packages=(
  qemu-utils        # qemu-img, qemu-nbd: VHD and NBD reference tools
  nbdkit            # NBD server with fault-injecting filters
  libnbd-bin        # nbdinfo, nbdcopy
  openssl           # test certificates
  e2fsprogs         # mke2fs -d: seed disks with real filesystems
  ceph-mon ceph-osd radosgw ceph-common   # real S3 server on loopback for the S3 store tests
  libvhdi-utils     # vhdiinfo: an independent VHD parser used as a test oracle
  chromium fonts-liberation   # headless browser for the web UI's end-to-end tests
  libguestfs-tools  # guestfish: file-level restore reads restore points' filesystems in an appliance
  libguestfs-xfs    # XFS tools inside that appliance
  linux-image-amd64 # the kernel supermin builds the appliance from (found in /boot)
  util-linux        # setpriv: guestfish dies with the process that started it
  xfsprogs dosfstools ntfs-3g lvm2 gdisk   # test disks with real filesystems and volume managers
  unzip             # the file-restore tests open the zip archives they download
  systemd           # systemd-analyze verify/security and systemctl --root: the service unit's tests
  zsh               # the CLI's zsh completion script is read by zsh in its test
  nfs-common cifs-utils       # mount.nfs, mount.cifs: Strata mounts nfs:// and smb:// repositories itself
  samba smbnetfs fuse3        # smbd on loopback mounted through FUSE: the store's tests on a real SMB share
  postgresql        # the server's PostgreSQL store and scale-out tests start a cluster of their own
  prometheus        # promtool: checks the /metrics output, the alert rules and their unit tests
  rclone            # `npm run bench -- mirror` compares a mirror with `rclone copy` of the repository folder
)
if [ "${STRATA_BENCH_TOOLS:-0}" = 1 ]; then
  packages+=(restic borgbackup hyperfine)
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "installing Debian packages: ${missing[*]}" >&2
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
