"""Build: the simulation engine compiled to C extensions with mypyc, when it can be.

A simulated year runs hundreds of thousands of events through the engine's plain-Python controllers;
compiled, the same code runs about a fifth faster with identical results (benchmarks/README.md).
The compiled modules are an optimisation, never a requirement:
- editable installs (``pip install -e``) stay pure Python, so edits take effect at once;
- ``LWSSIM_PURE_PYTHON=1`` turns compilation off;
- without a C compiler, or if compiling fails, the pure-Python package is installed (with a warning).
Everything else is declared in pyproject.toml.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from setuptools import setup
from setuptools.command.build_ext import build_ext

ROOT = Path(__file__).parent
# Every engine module (the hot paths), the timeline it writes, and the replay of it with the report built
# on that replay; not the package __init__ files.
COMPILED = sorted(
    str(p.relative_to(ROOT))
    for p in [
        *ROOT.glob("lwssim/engine/**/*.py"),
        ROOT / "lwssim/timeline.py",
        ROOT / "lwssim/analysis/replay.py",
        ROOT / "lwssim/analysis/report.py",
    ]
    if p.name != "__init__.py"
)


def _compile() -> bool:
    if os.environ.get("LWSSIM_PURE_PYTHON") or "editable_wheel" in sys.argv:
        return False
    try:
        import mypyc.build  # noqa: F401
    except ImportError:
        return False
    return True


class OptionalBuildExt(build_ext):
    """All compiled modules or none: a partial set would mix compiled and pure copies of a class."""

    def run(self) -> None:
        try:
            super().run()
        except Exception as exc:  # noqa: BLE001  (no compiler, a compile error: fall back, say so)
            for ext in self.extensions:
                Path(self.get_ext_fullpath(ext.name)).unlink(missing_ok=True)
            self.extensions = []
            print(f"warning: lwssim installs as pure Python (compiling the engine failed: {exc})")


ext_modules = []
if _compile():
    from mypyc.build import mypycify

    ext_modules = mypycify(COMPILED, opt_level="3", group_name="lwssim_engine")

setup(ext_modules=ext_modules, cmdclass={"build_ext": OptionalBuildExt})
