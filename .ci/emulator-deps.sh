#!/usr/bin/env bash
# Prepare the machine for `lwssim emulator` and `pytest -m e2e`: nothing beyond Go (in the image) and
# the Python deps is needed; this script checks Go and pre-builds the emulator's binaries into the
# version-keyed cache (~/.cache/lwssim/bin/<key>/). Idempotent: a warm cache makes it a no-op (~1 s).
# A cold build (etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kubectl, kwok, LWS v0.7.0 and
# v0.9.0, Kueue v0.17.0, Karpenter v1.14.1) took 21 minutes on 2 cores beside .ci/run's Python checks (2026-12-02;
# lwssim/emulator/README.md).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v go >/dev/null 2>&1; then
  for d in /usr/local/go/bin /usr/lib/go/bin; do
    [ -x "$d/go" ] && export PATH="$d:$PATH" && break
  done
fi
if ! command -v go >/dev/null 2>&1; then
  echo "emulator-deps: the go command is missing (need Go >= 1.26)" >&2
  exit 1
fi
echo "emulator-deps: $(go version)" >&2
python3 -c "import cryptography, kubernetes" || python3 -m pip install --quiet ".[test]"

# Prints the bin folder on stdout; progress on stderr.
python3 -m lwssim.emulator.build
# The other LWS release the e2e tests compare (tests/e2e/test_lws_versions.py): its own bin folder, with
# kube-*, etcd and kwok linked from the one above, so only the LWS controller is compiled (lwssim/emulator/README.md).
python3 -m lwssim.emulator.build --lws-version v0.9.0
# Kueue v0.17.0's manager for tests/e2e/test_kueue_emulator.py: a bin folder of its own, nothing shared with the
# builds above (its k8s.io libraries are v0.35.3). Built after them, not beside them: `go build -p 2` of Kueue
# alone keeps both cores 94 % busy (lwssim/emulator/README.md).
python3 -m lwssim.emulator.build --with kueue
# Karpenter v1.14.1 with its KWOK provider for tests/e2e/test_karpenter_emulator.py: a bin folder of its own,
# nothing shared with the builds above (k8s.io libraries v0.35.1, controller-runtime v0.23.1): 160 s cold on an
# idle machine (lwssim/emulator/README.md). Built last, for the same reason as Kueue.
python3 -m lwssim.emulator.build --with karpenter
