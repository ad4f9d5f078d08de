"""Volume anomaly detection: a partition's row count against its own recent history.

A robust z-score (median and MAD instead of mean and standard deviation) so that one bad
day in the history does not hide the next one. The scale has a floor: a perfectly regular
history (MAD 0, e.g. five channels every day) must not turn a one-row difference into an
infinite z-score.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

from platform_assets.contracts.model import Volume

MAD_TO_SIGMA = 1.4826  # MAD * 1.4826 estimates the standard deviation of normal data
MIN_SCALE_ROWS = 1.0
MIN_SCALE_SHARE = 0.05  # of the median: a flat history still tolerates ±20% at |z| = 4


@dataclass(frozen=True)
class VolumeVerdict:
    passed: bool
    count: int
    history: tuple[int, ...]
    median: float | None = None
    mad: float | None = None
    z: float | None = None
    reason: str = ""


def robust_z(count: int, history: tuple[int, ...]) -> tuple[float, float, float]:
    """(median, MAD, z) of ``count`` against ``history`` (non-empty)."""
    median = float(statistics.median(history))
    mad = float(statistics.median(abs(h - median) for h in history))
    return median, mad, (count - median) / _scale(median, mad)


def _scale(median: float, mad: float) -> float:
    return max(MAD_TO_SIGMA * mad, MIN_SCALE_ROWS, MIN_SCALE_SHARE * median)


def accepted_range(history: tuple[int, ...], volume: Volume) -> tuple[float, float] | None:
    """The row counts ``judge_volume`` accepts after ``history`` (the quality report draws it);
    None while the history is too short for the z-score (only ``min_rows`` applies)."""
    if len(history) < volume.min_history:
        return None
    median = float(statistics.median(history))
    mad = float(statistics.median(abs(h - median) for h in history))
    reach = volume.max_abs_z * _scale(median, mad)
    return max(float(volume.min_rows), median - reach), median + reach


def judge_volume(
    count: int, history: tuple[int, ...], volume: Volume, partitioned: bool = True
) -> VolumeVerdict:
    """Fails below ``min_rows``; judges the z-score only with ``min_history`` partitions.

    An unpartitioned table has no partitions to compare against: only ``min_rows`` applies.
    """
    if count < volume.min_rows:
        return VolumeVerdict(
            False, count, history, reason=f"{count} rows, fewer than min_rows {volume.min_rows}"
        )
    if not partitioned:
        return VolumeVerdict(True, count, (), reason=f"{count} rows >= min_rows {volume.min_rows}")
    if len(history) < volume.min_history:
        return VolumeVerdict(
            True,
            count,
            history,
            reason=f"insufficient history: {len(history)} of {volume.min_history} partitions",
        )
    median, mad, z = robust_z(count, history)
    within = abs(z) <= volume.max_abs_z
    reason = f"|z| = {abs(z):.2f} {'<=' if within else '>'} {volume.max_abs_z}"
    return VolumeVerdict(within, count, history, median, mad, round(z, 3), reason)
