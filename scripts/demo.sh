#!/usr/bin/env bash
# The demo: sets Strata up and runs it on a real disk image. Until the engine and server land, it builds
# a sample disk (partition-less ext4 filesystem with files), turns it into a dynamic VHD with Strata,
# inspects it, reads it back to raw and has qemu-img confirm both conversions are exact.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh

work=.strata/demo
mkdir -p "$work/files"
rm -f "$work"/disk.raw "$work"/disk.vhd "$work"/back.raw
echo "hello from Strata, $(date -u +%FT%TZ)" > "$work/files/hello.txt"
head -c 3M /dev/urandom > "$work/files/random.bin"
truncate -s 64M "$work/disk.raw"
mke2fs -q -t ext4 -d "$work/files" -F "$work/disk.raw"

strata() { node packages/cli/bin/strata.js "$@"; }
echo "== strata vhd from-raw: ext4 image -> dynamic VHD"
strata vhd from-raw "$work/disk.raw" "$work/disk.vhd"
echo "== strata vhd info"
strata vhd info "$work/disk.vhd"
echo "== strata vhd to-raw: VHD -> raw"
strata vhd to-raw "$work/disk.vhd" "$work/back.raw"
echo "== qemu-img compare (independent check)"
qemu-img compare -f raw -F vpc "$work/disk.raw" "$work/disk.vhd"
qemu-img compare -f raw -F raw "$work/disk.raw" "$work/back.raw"
echo "Demo files are in $work."
