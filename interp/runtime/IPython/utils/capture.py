"""Capturing stdout, stderr and displayed outputs."""

from _wasipy_display import CapturedIO, RichOutput, capture_output  # noqa: F401
