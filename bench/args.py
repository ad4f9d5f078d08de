"""Argument types shared by the benchmarks: a bad value is an argparse error naming it,
before minutes of setup and before any results file is overwritten."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable, Sequence


def counts(text: str) -> list[int]:
    """Comma-separated positive counts (rows or events per size; 0 would measure nothing)."""
    try:
        sizes = [int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected counts like 100000,1000000, got {text!r}"
        ) from None
    if min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"every count must be at least 1, got {text!r}")
    return sizes


def names_of(known: Sequence[str]) -> Callable[[str], list[str]]:
    """Comma-separated names, each one of ``known`` (profiles, modes)."""

    def names(text: str) -> list[str]:
        chosen = [name for name in text.split(",") if name]
        if not chosen:
            raise argparse.ArgumentTypeError(f"expected one or more of {list(known)}, got {text!r}")
        unknown = sorted(set(chosen) - set(known))
        if unknown:
            raise argparse.ArgumentTypeError(f"unknown {unknown}; known: {list(known)}")
        return chosen

    return names


def positive(text: str) -> int:
    """At least one: of repeats, rows, workers, ... (none leaves nothing to report)."""
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}")
    return int(text)


def non_negative_float(text: str) -> float:
    """Seconds, milliseconds or a rate, where 0 means none."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {text!r}")
    return value
