"""Pixel data that looks like what it is (placeholder: replaced by analytic phantoms)."""

from __future__ import annotations

import numpy as np

from pacs.synth.header import KINDS
from pacs.synth.plan import SeriesPlan, StudyPlan


def pixels_for(study: StudyPlan, series: SeriesPlan, instance_number: int) -> np.ndarray:
    kind = KINDS[series.kind]
    rng = np.random.default_rng([study.seed, study.index + 1, series.number, instance_number])
    dtype = np.uint8 if kind.bits_allocated == 8 else np.uint16
    shape = (kind.frames, kind.rows, kind.columns) if kind.frames else (kind.rows, kind.columns)
    top = 2**kind.bits_stored - 1
    yy, xx = np.mgrid[: kind.rows, : kind.columns]
    base = ((xx + yy) * top // (kind.rows + kind.columns)).astype(np.int64)
    arr = np.broadcast_to(base, shape) + rng.integers(0, max(2, top // 50), shape)
    return np.clip(arr, 0, top).astype(dtype)
