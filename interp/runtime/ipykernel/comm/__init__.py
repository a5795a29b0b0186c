"""ipykernel.comm, backed by wasipy's comm package."""

from comm import Comm, CommManager  # noqa: F401

__all__ = ["Comm", "CommManager"]
