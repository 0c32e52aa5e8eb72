#!/usr/bin/env bash
# Installs the system programs onair needs when they are missing: ffmpeg
# (ffprobe comes with it) and the aws CLI the tests drive; with --test also
# Chromium for the browser tests, PostgreSQL's server programs for the
# store's tests, and stress-ng, which `make test-loaded` keeps both cores
# busy with while the tests run. Node.js (20.19 or later, for Vite) builds
# the web UI; it is checked, not installed (Debian 12's own is too old).
set -euo pipefail

if ! node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>20||(a==20&&b>=19)?0:1)' 2>/dev/null; then
  echo "deps: the web UI needs Node.js 20.19 or later with npm (found: $(node --version 2>/dev/null || echo none))" >&2
  exit 1
fi

missing=()
command -v ffmpeg >/dev/null 2>&1 || missing+=(ffmpeg)
command -v ffprobe >/dev/null 2>&1 || missing+=(ffmpeg)
command -v aws >/dev/null 2>&1 || missing+=(awscli)
if [ "${1:-}" = "--test" ]; then
  command -v chromium >/dev/null 2>&1 || missing+=(chromium)
  command -v stress-ng >/dev/null 2>&1 || missing+=(stress-ng)
  # PostgreSQL's server programs: the tests start private clusters
  # (test/e2e/harness/postgres.go); Debian's package's own cluster is
  # not used.
  compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || missing+=(postgresql)
fi
[ ${#missing[@]} -eq 0 ] && exit 0

pkgs=$(printf '%s\n' "${missing[@]}" | sort -u | tr '\n' ' ')
if ! command -v apt-get >/dev/null 2>&1; then
  echo "deps: please install: $pkgs" >&2
  exit 1
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
    echo "deps: run as root or install: $pkgs" >&2; exit 1
  fi
fi
echo "deps: installing $pkgs"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends $pkgs >/dev/null
