"""Settings of alert delivery (the `notify` section). Being written."""

from pydantic import BaseModel, ConfigDict


class NotifyConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
