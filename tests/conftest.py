"""Test-suite configuration: fixture YAML under tests/data is input for loader tests, not scenarios to run."""

collect_ignore = ["data"]
