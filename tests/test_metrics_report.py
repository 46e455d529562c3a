"""The metric registry names real functions; per-frame series on their own frame grid keep their times."""

from __future__ import annotations

import importlib

import numpy as np

from emo2cli.metrics.report import METRICS, Report, per_frame_csv


def test_every_registered_metric_names_a_real_function():
    for metric in METRICS.values():
        module, function = metric.function.split(":")
        module = module if module.startswith("emo2cli.") else f"emo2cli.metrics.{module}"
        assert callable(getattr(importlib.import_module(module), function)), metric.name
    assert {"HCE-2D", "HC-PCK", "HCE-angle", "HC-detect"} <= set(METRICS)


def test_a_series_on_its_own_frame_grid_keeps_its_times():
    series = {"input": "gen.mp4", "fps": 25.0, "series": {"HCE-2D (per frame, 30 fps)": np.array([0.1, 0.2])}}
    lines = per_frame_csv(Report("video", ["gen.mp4"], [], [], [series])).splitlines()
    assert lines[0] == 'input,frame,time_s,"HCE-2D (per frame, 30 fps)"'
    assert lines[2] == "gen.mp4,1,0.0333,0.2"
