"""The config file (`conformance.yaml`): run options and targets, validated against the JSON Schema shipped with
the package (`config.schema.json`). Secrets never come from it: a target names the environment variable that
holds its key."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match

__all__ = ["ConfigError", "Target", "config_schema", "load_config"]

SCHEMA = "config.schema.json"


class ConfigError(Exception):
    """A config file that cannot be read or breaks the schema: the message names the file, the key and why."""


def config_schema() -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(resources.files("conformance").joinpath(SCHEMA).read_text())
    return schema


@dataclass(frozen=True)
class Target:
    """One target of the targets file."""

    name: str
    base_url: str
    model: str
    chat_path: str = "/v1/chat/completions"
    query: dict[str, str] = field(default_factory=dict)
    api_key_env: str | None = None
    auth_header: str = "Authorization"
    auth_prefix: str = "Bearer "
    profile: str | None = None
    capabilities: tuple[str, ...] = ()
    max_requests: int | None = None
    baseline: Path | None = None

    @classmethod
    def of(cls, item: dict[str, Any], base: Path) -> Target:
        auth = item.get("auth", {})
        header = auth.get("header", "Authorization")
        return cls(
            name=item["name"],
            base_url=item["base_url"],
            model=item["model"],
            chat_path=item.get("chat_path", "/v1/chat/completions"),
            query=dict(item.get("query", {})),
            api_key_env=item.get("api_key_env"),
            auth_header=header,
            auth_prefix=auth.get("prefix", "Bearer " if header.lower() == "authorization" else ""),
            profile=item.get("profile"),
            capabilities=tuple(item.get("capabilities", ())),
            max_requests=item.get("max_requests"),
            baseline=(base / item["baseline"]) if item.get("baseline") else None,
        )


def load_config(path: str | Path) -> tuple[dict[str, Any], list[Target]]:
    """(run options, targets) of a config file; a ConfigError names the first problem."""
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"{path} is not UTF-8 text") from None
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML: {str(exc).splitlines()[0]}") from None
    data = data if data is not None else {}
    if isinstance(data, dict):
        data = {str(k).replace("-", "_"): v for k, v in data.items()}
    if isinstance(data, dict) and "api_key" in data:
        raise ConfigError(f"{path}: keep the API key out of files; use CONFORMANCE_API_KEY (or a target's api_key_env)")
    error = best_match(Draft202012Validator(config_schema()).iter_errors(data))
    if error is not None:
        where = ".".join(str(p) for p in error.absolute_path) or "(top level)"
        raise ConfigError(f"{path}: {where}: {error.message}")
    options = dict(data)
    items = options.pop("targets", [])
    names = [t["name"] for t in items]
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise ConfigError(f"{path}: target names used twice: {', '.join(duplicated)}")
    base = Path(path).resolve().parent
    if "baseline" in options:
        options["baseline"] = str(base / options["baseline"])
    return options, [Target.of(item, base) for item in items]
