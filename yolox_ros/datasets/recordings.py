"""Recordings inside a dataset of video frames, for validation that measures new scenes.

Frames exported from a drive are numbered in recording order: consecutive
frames of one recording are a few numbers apart, a new recording starts after
a jump. Holding out single frames leaves their neighbours, seconds apart, in
training, and the figure then measures memory of the scene; holding out whole
recordings measures what a user on a new track gets.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from yolox_ros.errors import ConfigError


def recordings(frame_numbers: Iterable[int], max_gap: int) -> list[list[int]]:
    """The distinct frame numbers, sorted, cut into runs wherever two are over ``max_gap`` apart."""
    if max_gap < 1:
        raise ConfigError(f"max_gap must be >= 1, got {max_gap}")
    runs: list[list[int]] = []
    for number in sorted(set(frame_numbers)):
        if runs and number - runs[-1][-1] <= max_gap:
            runs[-1].append(number)
        else:
            runs.append([number])
    return runs


def held_out_frames(runs: Sequence[Sequence[int]], first_frames: Iterable[int]) -> set[int]:
    """Every frame of the runs that start at ``first_frames``; an unknown start is an error."""
    by_start = {run[0]: run for run in runs}
    frames: set[int] = set()
    for start in first_frames:
        if start not in by_start:
            raise ConfigError(
                f"no recording starts at frame {start}; recordings start at {sorted(by_start)}"
            )
        frames.update(by_start[start])
    return frames
