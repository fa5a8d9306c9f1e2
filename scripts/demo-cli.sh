#!/usr/bin/env bash
# The demo: Strata end to end against a lab XCP-ng pool on this machine. It starts a lab pool with seed
# VMs, creates a local repository, runs a delta backup job twice with guest activity in between, shows
# the run's task tree, restores the VM to the pool and a disk to files, checks the restored bytes, and
# sums up what happened. Everything lives under .strata/demo; the lab stops when the script ends.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh

work=.strata/demo
rm -rf "$work"
mkdir -p "$work"
strata() { node packages/cli/bin/strata.js "$@"; }
# field PATH: one value of the JSON on stdin, e.g. `field 'vms[0].name'` (arrays print comma-separated).
field() {
  node -e 'let v = JSON.parse(require("fs").readFileSync(0, "utf8"))
    for (const k of process.argv[1].split(/[.[\]]/).filter(Boolean)) v = v[k]
    console.log(Array.isArray(v) ? v.join(", ") : v)' "$1"
}

echo "== starting a lab pool (XAPI over HTTPS, HTTP transfers, NBD over TLS) with seed VMs"
node packages/cli/bin/strata.js lab serve --json >"$work/lab.json" 2>"$work/lab.log" &
lab_pid=$!
trap 'kill "$lab_pid" 2>/dev/null || true; wait "$lab_pid" 2>/dev/null || true' EXIT
for _ in $(seq 100); do [ -s "$work/lab.json" ] && break; sleep 0.1; done
[ -s "$work/lab.json" ] || { cat "$work/lab.log"; exit 1; }
url=$(head -1 "$work/lab.json" | field url)
# The lab's certificate, pinned like a real host's (on a host: openssl x509 -in /etc/xensource/xapi-ssl.pem
# -noout -fingerprint -sha256 prints it); every command below refuses the pool without it.
fingerprint=$(head -1 "$work/lab.json" | field fingerprint)
export STRATA_XAPI_PASSWORD
STRATA_XAPI_PASSWORD=$(head -1 "$work/lab.json" | field password)
echo "lab pool at $url, VMs: $(head -1 "$work/lab.json" | field vms)"
echo "pinned its certificate: SHA-256 $fingerprint"
pool=(--pool "$url" --fingerprint "$fingerprint" --user root)

echo "== creating a local repository in $work/repo"
strata repo init --repo "$work/repo" >/dev/null

cat >"$work/job.json" <<EOF
{
  "id": "demo",
  "name": "Demo: web VMs, delta",
  "pools": [{ "id": "lab", "url": "$url", "user": "root", "fingerprint": "$fingerprint" }],
  "vms": { "tags": ["web"] },
  "repositories": [{ "name": "local", "location": "$work/repo" }],
  "settings": { "mode": "delta", "retries": 1 },
  "schedules": [{ "id": "hourly", "retention": { "keepLast": 2 } }]
}
EOF
echo "== job $work/job.json selects VMs tagged 'web', keeps 2 restore points"
data=(--data-dir "$work/data")

echo "== run 1: the first backup reads every allocated block"
strata backup run "$work/job.json" "${data[@]}" --json >"$work/run1.json"
echo "== guest activity: web-01 writes a file on its first disk and 16 random 64 KiB blocks on its second"
message="hello from web-01, written at $(date -u +%FT%TZ)"
strata lab guest-write "${pool[@]}" --vm web-01 --file /srv/demo/hello.txt --content "$message"
strata lab guest-write "${pool[@]}" --vm web-01 --disk 1 --random-blocks 16
echo "== run 2: only the changed blocks"
strata backup run "$work/job.json" "${data[@]}" --json >"$work/run2.json"
run2=$(field runId <"$work/run2.json")
point=$(field 'vms[0].result.points[0].pointId' <"$work/run2.json")

echo "== the task tree of run 2 (strata backup logs $run2)"
strata backup logs "$run2" "${data[@]}"

echo "== restoring restore point $point as a new VM on the lab pool"
strata restore vm --repo "$work/repo" --point "$point" "${pool[@]}" --name-suffix ' (restored)'

echo "== restoring its first disk to a raw image and to a VHD, and checking the bytes"
strata restore disk --repo "$work/repo" --point "$point" --disk 0 --to "$work/disk0.raw"
strata restore disk --repo "$work/repo" --point "$point" --disk 0 --to "$work/disk0.vhd" --format vhd
qemu-img compare -q -f raw -F vpc "$work/disk0.raw" "$work/disk0.vhd"
echo "qemu-img: the raw and VHD restores hold the same bytes"
dd if="$work/disk0.raw" of="$work/part0.img" bs=1M skip=1 status=none
restored=$(debugfs -R "cat /srv/demo/hello.txt" "$work/part0.img" 2>/dev/null)
if [ "$restored" != "$message" ]; then
  echo "the restored disk does not hold the file the guest wrote" >&2
  exit 1
fi
echo "debugfs: the restored filesystem holds /srv/demo/hello.txt as the guest wrote it"

echo "== summary"
strata repo info --repo "$work/repo" --json >"$work/repo.json"
node - "$work" <<'EOF'
const fs = require('fs')
const dir = process.argv[2]
const size = (n) => (n < 2 ** 20 ? `${(n / 1024).toFixed(1)} KiB` : `${(n / 2 ** 20).toFixed(1)} MiB`)
for (const n of [1, 2]) {
  const run = JSON.parse(fs.readFileSync(`${dir}/run${n}.json`, 'utf8'))
  for (const vm of run.vms) {
    const r = vm.result
    console.log(`run ${n}: ${run.status} in ${run.seconds.toFixed(1)} s; ${vm.name}: ${r.full ? 'full' : 'delta'}, ` +
      `read ${size(r.bytesRead)} from the pool, stored ${size(r.bytesStored)} of new chunks (compressed)`)
  }
}
const repo = JSON.parse(fs.readFileSync(`${dir}/repo.json`, 'utf8'))
console.log(`repository: ${repo.points} restore points, each a complete disk index (nothing to merge); ` +
  `${repo.chunks} distinct chunks, ${size(repo.chunkBytes)} stored (chunks shared by both points are stored once, zeros never)`)
EOF
echo "Everything is in $work (repository, job, run logs: strata backup logs --data-dir $work/data)."
