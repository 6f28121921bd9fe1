"""The config file (`conformance.yaml`): run options and targets, validated against the JSON Schema shipped with
the package (`config.schema.json`). Secrets never come from it: a target names the environment variable that
holds its key."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from difflib import get_close_matches
from importlib import resources
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match

from conformance.yamlsafe import YamlError, read_yaml

__all__ = ["ConfigError", "Target", "config_schema", "load_config"]

SCHEMA = "config.schema.json"
MAX_BYTES = 1024 * 1024  # a config file larger than this is refused
MAX_NODES = 100_000  # and one whose aliases expand to more nodes than this


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
    concurrency: int | None = None  # requests in flight at once, for this target
    rate: float | None = None  # requests per second, for this target

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
            concurrency=item.get("concurrency"),
            rate=item.get("rate"),
            baseline=(base / item["baseline"]) if item.get("baseline") else None,
        )


def load_config(path: str | Path) -> tuple[dict[str, Any], list[Target]]:
    """(run options, targets) of a config file; a ConfigError names the first problem, in one line that shows no
    value of the file (a value in the wrong place may be a secret: the key pasted under `api_key_env`)."""
    try:
        data = read_yaml(path, str(path), max_bytes=MAX_BYTES, max_nodes=MAX_NODES)
    except UnicodeDecodeError:
        raise ConfigError(f"{path} is not UTF-8 text") from None
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from None
    except YamlError as exc:
        raise ConfigError(str(exc)) from None
    data = data if data is not None else {}
    if isinstance(data, dict):
        data = {str(k).replace("-", "_"): v for k, v in data.items()}
    if isinstance(data, dict) and "api_key" in data:
        raise ConfigError(f"{path}: keep the API key out of files; use CONFORMANCE_API_KEY (or a target's api_key_env)")
    error = best_match(Draft202012Validator(config_schema()).iter_errors(data))
    if error is not None:
        where = ".".join(str(p) for p in error.absolute_path) or "(top level)"
        raise ConfigError(f"{path}: {where}: {_without_value(error)}")
    infinite = _not_finite(data)
    if infinite:
        raise ConfigError(f"{path}: {infinite}: must be a finite number")
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


def _not_finite(data: Any, where: str = "") -> str | None:
    """Where a number that is not finite stands (YAML's `.inf`, `.nan`: JSON Schema's bounds let NaN pass)."""
    if isinstance(data, float) and not math.isfinite(data):
        return where or "(top level)"
    items = data.items() if isinstance(data, dict) else enumerate(data) if isinstance(data, list) else ()
    for key, value in items:
        found = _not_finite(value, f"{where}.{key}" if where else str(key))
        if found:
            return found
    return None


_TYPES = {"object": "a mapping", "array": "a list", "string": "a string", "integer": "an integer", "number": "a number"}


def _without_value(error: ValidationError) -> str:
    """What a schema error asks for, from the schema only: never the value found (it may be a secret)."""
    keyword: Any = error.validator
    wanted: Any = error.validator_value
    if keyword == "type":
        kinds = wanted if isinstance(wanted, list) else [wanted]
        found = _TYPES.get(_kind(error.instance), "something else")
        return f"must be {' or '.join(_TYPES.get(str(k), str(k)) for k in kinds)}, not {found}"
    if keyword == "enum":
        return f"must be one of: {', '.join(str(v) for v in wanted)}"
    if keyword == "pattern":
        return f"does not match the pattern {wanted} (the value is not shown)"
    if keyword in ("minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum"):
        sign = {"minimum": ">=", "exclusiveMinimum": ">", "maximum": "<=", "exclusiveMaximum": "<"}[str(keyword)]
        return f"must be {sign} {wanted}"
    if keyword == "additionalProperties" and isinstance(error.instance, dict):
        allowed = sorted((error.schema.get("properties") or {}) if isinstance(error.schema, dict) else {})
        unknown = [str(k) for k in error.instance if k not in allowed]
        # a misspelt option is named; any other unknown key is only counted (it may be a pasted secret)
        named = [f"{k!r} (did you mean {m[0]!r}?)" for k in unknown if (m := get_close_matches(k, allowed, 1, 0.75))]
        others = len(unknown) - len(named)
        parts = named + ([f"{others} other unknown key{'s' if others > 1 else ''}"] if others else [])
        return f"unknown keys: {', '.join(parts)}; allowed: {', '.join(allowed)}"
    if keyword == "required":
        return str(error.message)  # names the missing property, from the schema
    if keyword in ("minItems", "maxItems", "minLength", "maxLength"):
        return f"breaks {keyword} {wanted}"
    if keyword == "uniqueItems":
        return "has an item twice"
    return f"breaks the schema's {keyword!r}"


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    return "null" if value is None else type(value).__name__
