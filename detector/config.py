"""Detector parameters (a section of the tokenhawk settings, usable on its own in the library)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class DetectorConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    learning_period: str = "7d"
