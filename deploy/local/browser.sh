#!/usr/bin/env bash
# What the dashboard's browser test (tests/tests/dashboard.rs) needs: Debian's headless-capable
# Chromium at /usr/bin/chromium, and playwright-core pinned by tests/browser/package-lock.json
# (`npm ci`, which downloads no browser). `make browser` runs this; `make test` depends on it.
SERVICE=browser
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

if [ ! -x /usr/bin/chromium ]; then
  log "installing chromium from Debian's packages"
  apt_install chromium
fi
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  log "installing nodejs and npm from Debian's packages"
  apt_install nodejs npm
fi
node_major=$(node -p 'process.versions.node.split(".")[0]')
[ "$node_major" -ge 18 ] || die "playwright-core needs Node.js 18 or later; $(command -v node) is $(node --version)"

log "installing tests/browser's packages (npm ci)"
cd "$MURRON_ROOT/tests/browser"
npm ci --no-audit --no-fund --loglevel=error
