from __future__ import annotations

from pydantic import Field, model_validator

from steward.kit.inputs import Input, LocalTime

OPTIONAL_CHANNELS = ("email", "sms", "wecom", "dingtalk", "feishu")


class PreferenceIn(Input):
    locale: str = Field(default="zh-CN", pattern=r"^(zh-CN|en)$")
    opt_out_channels: list[str] = Field(
        default_factory=list, description="non-critical only; the inbox always receives"
    )
    quiet_start: LocalTime | None = None
    quiet_end: LocalTime | None = None
    digest: bool = Field(default=True, strict=True)  # true or false, not 0 or "yes"

    @model_validator(mode="after")
    def _check(self) -> PreferenceIn:
        bad = [c for c in self.opt_out_channels if c not in OPTIONAL_CHANNELS]
        if bad:
            raise ValueError(f"cannot opt out of {bad}; optional channels: {list(OPTIONAL_CHANNELS)}")
        if (self.quiet_start is None) != (self.quiet_end is None):
            raise ValueError("quiet_start and quiet_end go together")
        return self


class PreferenceOut(PreferenceIn):
    subject: str
