"""JSON Schema validation of records and config, run on every write."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

from jsonschema import Draft202012Validator

from photosync.errors import ConfigError, RecordInvalid

PHOTO_SCHEMA = "photo-metadata.schema.json"
SERVICE_SCHEMA = "service-config.schema.json"


def schema_text(name: str) -> str:
    return resources.files("photosync.archive").joinpath("schemas", name).read_text("utf-8")


@cache
def _validator(name: str) -> Draft202012Validator:
    schema = json.loads(schema_text(name))
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def schema_errors(name: str, value: Any) -> list[str]:
    """Readable messages, one per problem, each naming the JSON path."""
    errors = sorted(_validator(name).iter_errors(value), key=lambda e: list(e.absolute_path))
    messages = []
    for error in errors:
        where = "/".join(str(part) for part in error.absolute_path) or "(top level)"
        messages.append(f"{where}: {error.message}")
    return messages


def validate_record(record: Any, *, where: str = "record") -> None:
    problems = schema_errors(PHOTO_SCHEMA, record)
    if problems:
        raise RecordInvalid(f"{where} does not match the photo schema: " + "; ".join(problems[:5]))


def validate_services(config: Any) -> None:
    problems = schema_errors(SERVICE_SCHEMA, config)
    if problems:
        raise ConfigError(
            "config/services.json is not valid: " + "; ".join(problems[:5]),
            hint="Fix the file by hand or restore it with `git checkout config/services.json`.",
        )
