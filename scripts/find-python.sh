#!/usr/bin/env bash
# Print the path of a Python interpreter of the wanted version (default 3.10), found without
# hard-coded machine paths: pythonX.Y on PATH, pyenv, then uv. Exit 1 with advice if none.
set -u
want="${1:-3.10}"

works() {  # works PYTHON: true when PYTHON runs and is exactly the wanted version
  "$1" -c "import sys, venv; sys.exit(0 if '%d.%d' % sys.version_info[:2] == '$want' else 1)" \
    >/dev/null 2>&1
}

candidates=()
command -v "python$want" >/dev/null 2>&1 && candidates+=("$(command -v "python$want")")
if command -v pyenv >/dev/null 2>&1; then
  prefix=$(pyenv prefix "$want" 2>/dev/null | head -n 1)
  [ -n "$prefix" ] && candidates+=("$prefix/bin/python$want")
  root=$(pyenv root 2>/dev/null)
  if [ -n "$root" ]; then
    for dir in $(ls -d "$root/versions/$want".* 2>/dev/null | sort -t. -k3 -n -r); do
      candidates+=("$dir/bin/python$want")
    done
  fi
fi
if command -v uv >/dev/null 2>&1; then
  found=$(uv python find "$want" 2>/dev/null) && candidates+=("$found")
fi

for python in "${candidates[@]}"; do
  if works "$python"; then
    echo "$python"
    exit 0
  fi
done

cat >&2 <<MSG
SafeSteps needs Python $want for the Rasa server (Rasa 3.6 runs on Python 3.8-3.10 only),
and none was found (looked for python$want on PATH, pyenv and uv).
Install one, then run the command again. Any of these works:
  pyenv install $want          (https://github.com/pyenv/pyenv)
  uv python install $want      (https://docs.astral.sh/uv/)
  sudo apt-get install python$want python$want-venv   (Debian/Ubuntu with deadsnakes)
MSG
exit 1
