from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from steward.kit.inputs import Input, TenantCode


class TemplateIn(Input):
    model_config = ConfigDict(str_strip_whitespace=False)  # templates keep their white space

    subject: str = Field(min_length=1, max_length=2000)
    body: str = Field(min_length=1, max_length=20000)
    html: str | None = Field(default=None, max_length=50000)


class TemplateOut(BaseModel):
    tenant: str | None = Field(description="null for the shipped default")
    key: str
    locale: str
    subject: str
    body: str
    html: str | None = None
    updated_at: datetime | None = None


class TemplateList(BaseModel):
    items: list[TemplateOut]


class PreviewIn(Input):
    tenant: TenantCode
    key: str = Field(min_length=1, max_length=100, description="template key, usually the short event type")
    locale: str = "zh-CN"
    template: TemplateIn | None = Field(
        default=None, description="a draft to render instead of the stored one"
    )
    event: dict[str, Any] | None = Field(default=None, description="a CloudEvent; default: a sample event")
    recipient_name: str = "张三"


class PreviewOut(BaseModel):
    subject: str
    body: str
    html: str
