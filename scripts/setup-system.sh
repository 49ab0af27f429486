#!/usr/bin/env bash
# Installs the Debian packages cnngrade uses, where apt is available: bubblewrap (the sandbox)
# and dataset-fashion-mnist (offline data). Never fails the build: without bubblewrap the
# grader falls back to `unshare` and says so.
set -u
need=()
command -v bwrap >/dev/null 2>&1 || need+=(bubblewrap)
[ -d /usr/share/datasets/fashion-mnist ] || need+=(dataset-fashion-mnist)
[ ${#need[@]} -eq 0 ] && exit 0
if ! command -v apt-get >/dev/null 2>&1; then
  echo "note: apt-get not found; install ${need[*]} with your package manager for the full sandbox." >&2
  exit 0
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then sudo="sudo -n"; else
    echo "note: run 'sudo apt-get install ${need[*]}' for the full sandbox and offline data." >&2
    exit 0
  fi
fi
echo "Installing Debian packages: ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq >/dev/null 2>&1 || true
$sudo apt-get install -y -qq "${need[@]}" >/dev/null 2>&1 \
  || echo "note: could not install ${need[*]}; the sandbox falls back to unshare." >&2
exit 0
