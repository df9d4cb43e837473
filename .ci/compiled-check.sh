#!/usr/bin/env bash
# The compiled build (what `pip install .` makes, setup.py): install it into its own virtualenv, check
# that the engine really is compiled, run the test suite against it (tests that replace engine
# internals run on the pure build only), and check that every bundled scenario gives the same JSON
# report and exit code, byte for byte, as the pure-Python build (.venv, from the README's test command).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

python3 -m venv .venv-compiled
.venv-compiled/bin/python -m pip install --quiet --upgrade pip
.venv-compiled/bin/python -m pip install --quiet '.[test]'

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
cd "$out"  # outside the work tree: `import lwssim` finds the installed package, not the sources
"$root/.venv-compiled/bin/python" -c '
import sys, lwssim.engine.world as w
sys.exit(0 if w.__file__.endswith(".so") else f"the engine is not compiled ({w.__file__}): see pip install -v . for why")'

for f in "$root"/scenarios/*.yaml; do
  for build in pure compiled; do
    venv=$([ "$build" = pure ] && echo .venv || echo .venv-compiled)
    rc=0
    "$root/$venv/bin/lwssim" simulate "$f" -o json > "$build.json" || rc=$?
    echo "exit $rc" >> "$build.json"
  done
  cmp pure.json compiled.json || { echo "compiled build differs on $f"; exit 1; }
done
echo "compiled build: same reports as the pure-Python build for every bundled scenario"

# The console script does not put the work tree on sys.path: the suite runs on the compiled engine.
cd "$root"
.venv-compiled/bin/pytest -p no:cacheprovider -q -m "not e2e and not patches_engine" tests scenarios
