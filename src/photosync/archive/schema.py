"""JSON Schema validation of records and config, run on every write."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any

import fastjsonschema

from photosync.archive.secretscan import credential_paths, looks_like_credential, safe_key
from photosync.errors import ConfigError, RecordInvalid

if TYPE_CHECKING:
    from jsonschema import Draft7Validator

PHOTO_SCHEMA = "photo-metadata.schema.json"
SERVICE_SCHEMA = "service-config.schema.json"
PREFERENCES_SCHEMA = "user-preferences.schema.json"
SYNC_STATE_SCHEMA = "sync-state.schema.json"
#: every schema the archive keeps a copy of in schemas/
ALL_SCHEMAS = (PHOTO_SCHEMA, SERVICE_SCHEMA, PREFERENCES_SCHEMA, SYNC_STATE_SCHEMA)
#: config file -> the schema that lists its allowed keys (the one allowlist)
CONFIG_SCHEMAS = {
    "config/services.json": SERVICE_SCHEMA,
    "config/user-preferences.json": PREFERENCES_SCHEMA,
    "config/sync-state.json": SYNC_STATE_SCHEMA,
}


def schema_text(name: str) -> str:
    return resources.files("photosync.archive").joinpath("schemas", name).read_text("utf-8")


@cache
def validator(name: str) -> Draft7Validator:
    """The full validator, for readable messages once the fast one said no (imported
    then: jsonschema costs a no-op command a third of its start-up)."""
    from jsonschema import Draft7Validator

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


def _safe_where(parts: Any) -> str:
    shown = []
    for part in parts:
        text = str(part)
        shown.append(
            "(a key that looks like a credential)" if looks_like_credential(text) else text
        )
    return "/".join(shown) or "(top level)"


def _safe_message(error: Any) -> str:
    """What is wrong, in words that never repeat the offending value (it may be a secret)."""
    kind = error.validator
    if kind == "additionalProperties":
        allowed = set(error.schema.get("properties", {}))
        extra = sorted(str(key) for key in error.instance if key not in allowed)
        return (
            "unknown key(s) "
            + ", ".join(safe_key(key) for key in extra)
            + f" (allowed: {', '.join(sorted(allowed))})"
        )
    if kind == "required":
        return str(error.message)  # names a key of the schema, never a value
    if kind == "type":
        return f"must be of type {error.validator_value}"
    if kind in ("enum", "const"):
        return f"must be one of {error.validator_value}"
    if kind == "pattern":
        if "@" in str(error.validator_value):
            return "must be an http(s) URL without user:password@"
        return "is not in the expected form"
    if kind == "propertyNames":
        return "a name that is not allowed here"
    return f"fails the '{kind}' rule"


def config_problems(name: str, value: Any) -> list[str]:
    """Every problem in a config file: keys outside the allowlist, wrong shapes, and
    anything that looks like a credential. The messages never contain a value."""
    problems: list[str] = []
    if not is_valid(name, value):
        errors = sorted(validator(name).iter_errors(value), key=lambda e: list(e.absolute_path))
        problems.extend(f"{_safe_where(e.absolute_path)}: {_safe_message(e)}" for e in errors)
    problems.extend(f"{where}: looks like a credential" for where in credential_paths(value))
    return problems


def _refuse(relpath: str, problems: list[str]) -> None:
    if problems:
        raise ConfigError(
            f"{relpath} is not valid: " + "; ".join(problems[:5]),
            hint="Secrets belong in the credential store (`photosync auth`), never in config/. "
            f"Fix the file by hand or restore it with `git checkout {relpath}`.",
        )


def refuse_credentials(relpath: str, value: Any) -> None:
    """Refuse a config file holding anything that looks like a credential."""
    _refuse(relpath, [f"{where}: looks like a credential" for where in credential_paths(value)])


def refuse_credential_options(options: dict[str, Any]) -> None:
    """Refuse command-line values bound for config/ (``--endpoint``, ``--path``) that
    look like credentials, before anything uses them: a probe would otherwise send
    them and a library's error quote them. Names the option, never the value."""
    found = [option for option, value in options.items() if credential_paths(value)]
    if found:
        raise ConfigError(
            f"{', '.join(found)}: looks like a credential (it would be written into config/ "
            "and git)",
            hint="Secrets belong in the credential store (`photosync auth`, --credentials) "
            "or the environment, never in a URL or a path: remove it from the value.",
        )


def validate_config(relpath: str, value: Any) -> None:
    """Refuse a config file that has unknown keys or anything that looks like a secret."""
    _refuse(relpath, config_problems(CONFIG_SCHEMAS[relpath], value))


def validate_record(record: Any, *, where: str = "record") -> None:
    if is_valid(PHOTO_SCHEMA, record):
        return
    problems = schema_errors(PHOTO_SCHEMA, record) or ["does not match (no detail)"]
    if problems:
        raise RecordInvalid(f"{where} does not match the photo schema: " + "; ".join(problems[:5]))


def validate_services(config: Any) -> None:
    validate_config("config/services.json", config)
