"""JSON Schema validation of records and config, run on every write."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

import fastjsonschema
from jsonschema import Draft7Validator

from photosync.errors import ConfigError, RecordInvalid

PHOTO_SCHEMA = "photo-metadata.schema.json"
SERVICE_SCHEMA = "service-config.schema.json"
PREFERENCES_SCHEMA = "user-preferences.schema.json"


def schema_text(name: str) -> str:
    return resources.files("photosync.archive").joinpath("schemas", name).read_text("utf-8")


@cache
def validator(name: str) -> Draft7Validator:
    schema = json.loads(schema_text(name))
    Draft7Validator.check_schema(schema)
    return Draft7Validator(schema)


@cache
def _fast(name: str) -> Any:
    """A compiled validator: the hot path (every record write) costs microseconds."""
    return fastjsonschema.compile(json.loads(schema_text(name)))


def is_valid(name: str, value: Any) -> bool:
    try:
        _fast(name)(value)
    except fastjsonschema.JsonSchemaException:
        return False
    return True


def schema_errors(name: str, value: Any) -> list[str]:
    """Readable messages, one per problem, each naming the JSON path."""
    errors = sorted(validator(name).iter_errors(value), key=lambda e: list(e.absolute_path))
    messages = []
    for error in errors:
        where = "/".join(str(part) for part in error.absolute_path) or "(top level)"
        messages.append(f"{where}: {error.message}")
    return messages


def validate_record(record: Any, *, where: str = "record") -> None:
    if is_valid(PHOTO_SCHEMA, record):
        return
    problems = schema_errors(PHOTO_SCHEMA, record) or ["does not match (no detail)"]
    if problems:
        raise RecordInvalid(f"{where} does not match the photo schema: " + "; ".join(problems[:5]))


def validate_services(config: Any) -> None:
    problems = schema_errors(SERVICE_SCHEMA, config)
    if problems:
        raise ConfigError(
            "config/services.json is not valid: " + "; ".join(problems[:5]),
            hint="Fix the file by hand or restore it with `git checkout config/services.json`.",
        )
