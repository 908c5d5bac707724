"""tokenhawk's configuration: one pydantic-settings model.

Sources, highest priority first: keyword arguments (CLI options), environment variables
(`TOKENHAWK_` prefix, `__` between nested names, e.g. `TOKENHAWK_KAFKA__BOOTSTRAP_SERVERS`),
secret files (`TOKENHAWK_SECRETS_DIR`, one file per setting named like its environment variable,
e.g. `TOKENHAWK_NOTIFY__PAGERDUTY__ROUTING_KEY`), then an optional YAML file
(`--config` or `TOKENHAWK_CONFIG`). Unknown keys are an error so a typo never silently becomes a
default. Secrets are `SecretStr`: they print as '**********'.

Each subsystem owns its section model (detector, kafka, elasticsearch, notify); this module only
composes them.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic_settings import (
    BaseSettings,
    NestedSecretsSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

from detector.config import DetectorConfig
from detector.inventory.config import InventoryConfig
from detector.notify.config import NotifyConfig
from detector.search.config import ElasticsearchConfig
from detector.errors import ConfigError

from .stream.config import KafkaConfig


class Section(BaseModel):
    """Base for config sections: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="TOKENHAWK_",
        env_nested_delimiter="__",
        extra="forbid",
    )

    detector: DetectorConfig = DetectorConfig()
    notify: NotifyConfig = NotifyConfig()
    elasticsearch: ElasticsearchConfig = ElasticsearchConfig()
    kafka: KafkaConfig = KafkaConfig()
    inventory: InventoryConfig = InventoryConfig()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources = [init_settings, env_settings]
        secrets_dir = os.environ.get("TOKENHAWK_SECRETS_DIR")
        if secrets_dir:
            # one file per setting, named like its env var: TOKENHAWK_NOTIFY__SLACK__WEBHOOK_URL
            sources.append(NestedSecretsSettingsSource(file_secret_settings, secrets_dir=secrets_dir,
                                                       secrets_nested_delimiter="__"))
        yaml_path = _CONFIG_FILE.get("path")
        if yaml_path:
            sources.append(YamlConfigSettingsSource(settings_cls, yaml_file=yaml_path))
        return tuple(sources)


# The YAML path is chosen at load time; pydantic-settings asks for sources on the class.
_CONFIG_FILE: dict[str, Any] = {}


def load_settings(config_file: str | Path | None = None, **overrides: Any) -> Settings:
    """Load settings; raises ConfigError with every problem listed, where and what was expected."""
    path = config_file or os.environ.get("TOKENHAWK_CONFIG")
    if path:
        path = Path(path)
        if not path.exists():
            raise ConfigError(f"config file {path} does not exist")
        try:
            yaml.safe_load(path.read_text())
        except yaml.YAMLError as exc:
            raise ConfigError(f"config file {path} is not valid YAML: {exc}") from exc
    _CONFIG_FILE["path"] = str(path) if path else None
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigError(f"invalid configuration ({problems})") from None
    finally:
        _CONFIG_FILE.clear()
