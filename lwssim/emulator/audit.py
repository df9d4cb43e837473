"""kube-apiserver's audit log on the emulator: every write the controllers make, timed to the microsecond.

The Timeline the observer records has the API's one-second timestamps; the audit log has each request's
arrival and completion (``requestReceivedTimestamp``, ``stageTimestamp``), so API latency per kind of call
can be measured on the real control plane (``lwssim calibrate --audit-log``). Only writes to the objects
lwssim models are logged, at Metadata level (no bodies), in batches, so the log does not slow the requests
it measures (kubernetes v1.34 staging/src/k8s.io/apiserver/plugin/pkg/audit/buffered).
"""

from __future__ import annotations

from pathlib import Path

import yaml

LOG_NAME = "audit.log"

POLICY = {
    "apiVersion": "audit.k8s.io/v1",
    "kind": "Policy",
    "omitStages": ["RequestReceived"],
    "rules": [
        {
            "level": "Metadata",
            "verbs": ["create", "update", "patch", "delete"],
            "resources": [
                {"group": "", "resources": ["pods", "pods/status", "pods/binding"]},
                {
                    "group": "apps",
                    "resources": ["statefulsets", "statefulsets/status", "controllerrevisions"],
                },
                {
                    "group": "leaderworkerset.x-k8s.io",
                    "resources": ["leaderworkersets", "leaderworkersets/status"],
                },
            ],
        },
        {"level": "None"},
    ],
}


def log_path(state_dir: Path) -> Path:
    return state_dir / "logs" / LOG_NAME


def apiserver_flags(state_dir: Path) -> list[str]:
    """Write the policy into the state folder; the kube-apiserver flags that use it."""
    policy = state_dir / "audit-policy.yaml"
    policy.write_text(yaml.safe_dump(POLICY, sort_keys=False))
    log_path(state_dir).parent.mkdir(parents=True, exist_ok=True)
    return [
        f"--audit-policy-file={policy}",
        f"--audit-log-path={log_path(state_dir)}",
        "--audit-log-format=json",
        "--audit-log-mode=batch",
        "--audit-log-maxsize=200",
        "--audit-log-maxbackup=1",
    ]
