"""Where the record rules live: in ``photosync.model``, once. A workflow module never
takes a record rule from another workflow module (it would be a second home for it),
and every workflow module is held to ``mypy --strict`` (pyproject's strict list)."""

from __future__ import annotations

import ast
import importlib
import inspect
import tomllib
from collections.abc import Iterator
from pathlib import Path

import photosync.workflow

WORKFLOW = Path(photosync.workflow.__file__).parent
PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"


def _workflow_imports() -> Iterator[tuple[str, str, str]]:
    """(importing module, workflow module imported from, name) for every such import."""
    for path in sorted(WORKFLOW.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
                "photosync.workflow."
            ):
                for alias in node.names:
                    yield path.stem, str(node.module), alias.name


def _is_record_rule(obj: object) -> bool:
    """A function whose first parameter is one record (``model.Record``)."""
    if not inspect.isfunction(obj):
        return False
    params = list(inspect.signature(obj).parameters.values())
    return bool(params) and str(params[0].annotation) == "Record"


def test_no_workflow_module_takes_a_record_rule_from_another() -> None:
    sideways = [
        f"{importer} imports {name} from {module}"
        for importer, module, name in _workflow_imports()
        if _is_record_rule(getattr(importlib.import_module(module), name, None))
    ]
    assert sideways == []
    # the check can fail: a record rule is recognised as one
    assert _is_record_rule(importlib.import_module("photosync.model").record_originals)


def test_every_workflow_module_is_held_to_mypy_strict() -> None:
    overrides = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["tool"]["mypy"]["overrides"]
    strict = {
        module
        for override in overrides
        if override.get("disallow_any_generics") and override.get("warn_return_any")
        for module in override["module"]
    }
    modules = {
        f"photosync.workflow.{p.stem}" for p in WORKFLOW.glob("*.py") if p.stem != "__init__"
    }
    assert modules - strict == set()


def test_the_workflow_asks_services_and_stores_what_they_can_do_instead_of_probing() -> None:
    """Capabilities are declared (``supports_*``, ``parallel_uploads``,
    ``upload_batch_size``, the store's methods): no ``hasattr``/``getattr`` probe."""
    probes = [
        f"{path.name}:{node.lineno} {node.func.id}"
        for path in sorted(WORKFLOW.glob("*.py"))
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id in ("hasattr", "getattr")
    ]
    assert probes == []


#: names under which the workflow holds a part of a record
_RECORD_PARTS = (
    "record",
    "instance",
    "conflict",
    "decision",
    "approval",
    "problem",
    "observed",
    "metadata",
    "copy",
)


def test_no_workflow_code_holds_a_record_or_a_part_of_one_as_a_plain_dict() -> None:
    """Records, instances, conflicts... are the ``model.record`` types in the workflow:
    a parameter, variable or field of one of those names annotated ``dict[str, Any]``
    (or a list of them) is what the typed model replaced."""
    untyped = []
    for path in sorted(WORKFLOW.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.arg) and node.annotation is not None:
                name, annotation = node.arg, node.annotation
            elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                name, annotation = node.target.id, node.annotation
            else:
                continue
            text = ast.unparse(annotation)
            if "dict[str, Any]" in text and name.rstrip("s") in _RECORD_PARTS:
                untyped.append(f"{path.name}:{node.lineno} {name}: {text}")
    assert untyped == []
