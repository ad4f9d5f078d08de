"""Preloaded by the forkserver of the multiprocess executor: what every step process needs.

Spawned, each step process imported the code location, built the definitions and imported
pandas, pandera and DuckDB on its own: about 2 s of CPU per step, 13 times in a daily run
(68 s for the run on the embedded default). Forked from a server that did all that once, the
same run took 37 s. The definitions are built for the environment of the run process, which
the forkserver and the steps inherit: a process has one forkserver, so a process that ran
runs under different environments would hand the later ones the first's. Dagster runs each
launched run in a process of its own (and the CLI, one run), so it never does.

Nothing here opens a connection: a forked child must not share one. The only threads are
OpenBLAS's (numpy) and jemalloc's (pyarrow), both of which re-initialize in a forked child.
"""

from __future__ import annotations

import duckdb  # noqa: F401
import pandas  # noqa: F401

import platform_assets.quality.validation  # noqa: F401  pandera with its pandas backend
from platform_assets.definitions import defs

defs()  # cached per process and environment: the steps forked from here find it built
