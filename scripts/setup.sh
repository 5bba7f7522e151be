#!/usr/bin/env bash
# Set up everything SafeSteps needs, skipping what is already done:
#   .venv       the kit (Python >= 3.10): aiogram 3, rasa-sdk, jinja2, Babel, pydantic 2
#   .venv-rasa  the Rasa server (Python 3.10, rasa 3.6.21 pinned by requirements/rasa-constraints.txt)
#   locales     compiled interface catalogs (.mo)
# With --browser, also Debian's chromium and CJK fonts for the page tests.
# Downloads are cached by pip (~/.cache/pip), so a second setup is quick.
set -euo pipefail
cd "$(dirname "$0")/.."

want_browser=0
want_rasa=1
for arg in "$@"; do
  case "$arg" in
    --browser) want_browser=1 ;;
    --no-rasa) want_rasa=0 ;;
    *) echo "setup: unknown option $arg" >&2; exit 2 ;;
  esac
done

step() { printf '\033[1m==> %s\033[0m\n' "$*"; }
fingerprint() { cat "$@" 2>/dev/null | sha256sum | cut -c1-16; }
started=$(date +%s)

kit_python() {
  for candidate in python3 python3.12 python3.11 python3.10; do
    if command -v "$candidate" >/dev/null 2>&1 && "$candidate" -c \
        'import sys, venv; sys.exit(0 if sys.version_info >= (3, 10) else 1)' >/dev/null 2>&1; then
      command -v "$candidate"; return 0
    fi
  done
  scripts/find-python.sh 3.10
}

# Pip prints a warning for each configured local index that does not exist; hide that noise only.
quiet_pip() { "$@" 2>&1 | grep -v "is ignored: it is neither a file nor a directory" || return "${PIPESTATUS[0]}"; }

# 1. The kit's environment.
kit_stamp=$(fingerprint pyproject.toml)
if [ ! -x .venv/bin/python ] || [ "$(cat .venv/.safesteps-setup 2>/dev/null)" != "$kit_stamp" ]; then
  python=$(kit_python)
  step "[1/3] Creating .venv with $($python --version 2>&1) (the kit and its tests)"
  [ -x .venv/bin/python ] || "$python" -m venv .venv
  quiet_pip .venv/bin/python -m pip install --progress-bar on --upgrade pip wheel
  quiet_pip .venv/bin/python -m pip install --progress-bar on -e '.[test]'
  echo "$kit_stamp" > .venv/.safesteps-setup
else
  step "[1/3] .venv is up to date"
fi

# 2. The Rasa server's environment (a separate install: Rasa 3.6 pins pydantic 1 and aiogram 2).
if [ "$want_rasa" = 1 ]; then
  rasa_stamp=$(fingerprint requirements/rasa.txt requirements/rasa-constraints.txt)
  if [ ! -x .venv-rasa/bin/rasa ] || [ "$(cat .venv-rasa/.safesteps-setup 2>/dev/null)" != "$rasa_stamp" ]; then
    python310=$(scripts/find-python.sh 3.10)
    step "[2/3] Creating .venv-rasa with $($python310 --version 2>&1) (Rasa 3.6.21; the first time takes a few minutes)"
    [ -x .venv-rasa/bin/python ] || "$python310" -m venv .venv-rasa
    quiet_pip .venv-rasa/bin/python -m pip install --progress-bar on --upgrade pip wheel
    quiet_pip .venv-rasa/bin/python -m pip install --progress-bar on \
      -r requirements/rasa.txt -c requirements/rasa-constraints.txt
    echo "$rasa_stamp" > .venv-rasa/.safesteps-setup
  else
    step "[2/3] .venv-rasa is up to date"
  fi
fi

# 3. Interface catalogs.
step "[3/3] Compiling interface catalogs"
if ls locales/*/LC_MESSAGES/safesteps.po >/dev/null 2>&1; then
  .venv/bin/pybabel compile -d locales -D safesteps --statistics 2>&1 | sed "s/^/    /"
fi

# Optional: a browser and fonts for the page tests (Debian's chromium; needs root or sudo).
if [ "$want_browser" = 1 ]; then
  missing=()
  command -v chromium >/dev/null 2>&1 || missing+=(chromium)
  [ -e /usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc ] || missing+=(fonts-noto-cjk)
  if [ "${#missing[@]}" -gt 0 ]; then
    step "Installing ${missing[*]} for the page tests"
    if [ "$(id -u)" = 0 ]; then sudo=""; elif command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
      echo "Page tests need: apt-get install ${missing[*]} (run it as root, then make test again)." >&2
      exit 1
    fi
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
fi

step "Setup done in $(( $(date +%s) - started )) s"
