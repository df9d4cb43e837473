"""Test-suite configuration: fixture YAML under tests/data is input for loader tests, not scenarios to run.

The builders every test shares (scenario documents, loading, runs, record queries) are in tests/support.py;
this directory is on sys.path because this conftest lives in it, so tests here and in e2e/ import ``support``.
"""

collect_ignore = ["data"]
