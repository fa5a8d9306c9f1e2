#!/usr/bin/env bash
# Installs the Strata server as a systemd service from this built checkout (docs/install.md): the
# 'strata' system user, /var/lib/strata (0700, the server's) and /etc/strata (root:strata, 0750) with
# config.toml (kept when present), /usr/local/bin/strata, and strata.service, enabled but not started.
# Idempotent: a second run changes nothing. Run as root.
#   --nas-mounts   also the drop-in that lets Strata mount NAS remotes itself (packaging/nas-mounts.conf)
#   --root DIR     install into DIR instead of / (an image being built, or the tests)
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
root=""
nas=0
while [ $# -gt 0 ]; do
  case "$1" in
    --nas-mounts) nas=1 ;;
    --root) root=$(cd "${2:?--root takes a directory}" && pwd); shift ;;
    *) echo "install-service.sh: unknown argument '$1' (--nas-mounts, --root DIR)" >&2; exit 2 ;;
  esac
  shift
done

fail() { echo "install-service.sh: $*" >&2; exit 1; }
note() { echo "$*"; }
[ "$(id -u)" -eq 0 ] || fail "run it as root (it creates a system user and installs a unit)"
[ -f "$repo/packages/cli/dist/main.js" ] || fail "$repo is not built: run ./scripts/setup.sh first"
case "$repo/" in
  /home/* | /root/* | /run/user/*)
    fail "the service cannot see $repo (ProtectHome=yes): put the checkout in /opt/strata" ;;
esac

# The user: a system account with no shell and no home of its own but the data directory.
if grep -q '^strata:' "$root/etc/passwd"; then
  note "user strata: present"
else
  useradd ${root:+--prefix "$root"} --system --user-group --home-dir /var/lib/strata --no-create-home \
    --shell /usr/sbin/nologin --comment 'Strata backup server' strata
  note "user strata: created"
fi
uid=$(awk -F: '$1 == "strata" { print $3 }' "$root/etc/passwd")
gid=$(awk -F: '$1 == "strata" { print $4 }' "$root/etc/passwd")

# install(1) sets owner and mode every time, so that a second run also repairs them.
install -d -m 0700 -o "$uid" -g "$gid" "$root/var/lib/strata"
install -d -m 0750 -o 0 -g "$gid" "$root/etc/strata"
if [ -e "$root/etc/strata/config.toml" ]; then
  note "/etc/strata/config.toml: kept"
else
  install -m 0640 -o 0 -g "$gid" "$repo/packaging/config.toml" "$root/etc/strata/config.toml"
  note "/etc/strata/config.toml: installed (edit it, then check it)"
fi

install -d -m 0755 "$root/usr/local/bin"
ln -sfn "$repo/packages/cli/bin/strata.js" "$root/usr/local/bin/strata"
install -d -m 0755 "$root/etc/systemd/system"
install -m 0644 "$repo/packaging/strata.service" "$root/etc/systemd/system/strata.service"
dropin="$root/etc/systemd/system/strata.service.d"
if [ "$nas" = 1 ]; then
  install -d -m 0755 "$dropin"
  install -m 0644 "$repo/packaging/nas-mounts.conf" "$dropin/nas-mounts.conf"
  note "strata.service: installed, with the NAS mounts drop-in"
else
  rm -f "$dropin/nas-mounts.conf" # the installed state follows the flags of the last run
  rmdir "$dropin" 2>/dev/null || true
  note "strata.service: installed"
fi

if [ -n "$root" ]; then
  systemctl --root="$root" enable strata.service >/dev/null 2>&1
elif [ -d /run/systemd/system ]; then
  systemctl daemon-reload
  systemctl enable strata.service >/dev/null 2>&1
else
  note "systemd is not running here: enable it later with 'systemctl enable --now strata'"
  exit 0
fi
note "strata.service: enabled. Next:"
note "  sudo -u strata strata server --check-config --config /etc/strata/config.toml"
note "  systemctl start strata && journalctl -u strata -f"
