from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field, model_validator

from steward.kit.inputs import Input


class ClockChange(Input):
    """Exactly one of ``advance`` or ``reset``."""

    advance: str | None = Field(
        default=None,
        max_length=40,
        description="How far to move forward: days/hours/minutes/seconds, e.g. '+3d', '12h', '1d6h30m'",
        examples=["+3d"],
    )
    reset: bool = Field(default=False, description="Back to the wall clock (offset 0)")

    @model_validator(mode="after")
    def _one(self) -> ClockChange:
        if (self.advance is None) == (not self.reset):
            raise ValueError("give exactly one of advance or reset")
        return self


class ClockOut(BaseModel):
    environment: str
    settable: bool = Field(description="Whether the clock can be moved here (dev mode only)")
    offset_seconds: float = Field(description="How far ahead of the wall clock every service runs")
    offset: str = Field(description="The offset, human-readable: '3d 0h 0m 0s'")
    now: datetime = Field(description="The platform's now (wall clock + offset)")
    wall: datetime = Field(description="The wall clock")
