"""JSON Schemas of the run folder's files, so that other languages and tools can check them.

One schema per file and per ``schema_version``, generated from the pydantic models of :mod:`arccnet_ckpt.records`
and shipped in the package (``arccnet_ckpt/schemas/<file stem>.v<version>.schema.json``). A test regenerates them
and fails when the shipped files differ; regenerate with ``python -m arccnet_ckpt.records.schema``. Print one with
``arccnet-ckpt schema training_summary``.

``config.json`` has two layouts: version 1 keeps the user's config under ``config``; version 2 (written since the
config became readable as the config itself) keeps the user's keys at the top level and everything the package
captured under ``_arccnet``, whose ``schema_version`` is 2.
"""

from __future__ import annotations

import copy
import json
from importlib import resources
from pathlib import Path
from typing import Any

from arccnet_ckpt.records import ARTIFACTS, RESERVED_CONFIG_KEY, ConfigRecord

DIALECT = "https://json-schema.org/draft/2020-12/schema"
"""The JSON Schema dialect of every shipped schema (an identifier, never fetched)."""

VERSIONS: dict[str, tuple[int, ...]] = {
    "config": (1, 2),
    "training_summary": (1, 2),
    "minimal_logging": (1,),
    "classification_report": (1, 2),
    "history": (1,),
}
"""Every file (by its stem) and the ``schema_version`` values a reader accepts for it."""

FROZEN: frozenset[tuple[str, int]] = frozenset({("config", 1), ("training_summary", 1), ("classification_report", 1)})
"""Old versions whose shipped schema is the reference: today's model describes the newer version, so these files are
never regenerated (``training_summary`` version 1 is version 2 without ``resumes[].restart_count``; ``config``
version 1, the flat layout, is no longer written, so fields added since, such as ``lightning_cli``, are not in it;
``classification_report`` version 1 is version 2 without the score-based fields)."""

_MODELS = {model.filename.removesuffix(".json"): model for model in ARTIFACTS.values()}
_ALIASES = {alias: model.filename.removesuffix(".json") for alias, model in ARTIFACTS.items()}


def names() -> list[str]:
    """The file stems that have schemas: ``config``, ``training_summary``...``history``."""
    return list(VERSIONS)


def canonical(name: str) -> str:
    """``training_summary``, ``training_summary.json`` or the short ``summary`` as the file stem.

    Raises:
        ValueError: Naming the names allowed.
    """
    stem = name.removesuffix(".json")
    stem = _ALIASES.get(stem, stem)
    if stem not in VERSIONS:
        allowed = ", ".join(sorted({*VERSIONS, *_ALIASES}))
        raise ValueError(f"no schema named {name!r}: use one of {allowed}")
    return stem


def generate(name: str, version: int | None = None) -> dict[str, Any]:
    """The JSON Schema of file ``name`` at ``version`` (default: the newest), built from the pydantic model.

    Raises:
        ValueError: For an unknown name or a version the file never had.
    """
    stem = canonical(name)
    versions = VERSIONS[stem]
    version = versions[-1] if version is None else version
    if version not in versions:
        raise ValueError(f"{stem}.json has schema_version {', '.join(map(str, versions))}, not {version}")
    if (stem, version) in FROZEN:
        raise ValueError(f"{stem}.json version {version} is frozen: its shipped schema is the reference")
    model = _MODELS[stem]
    body = model.model_json_schema(mode="validation")
    body["properties"]["schema_version"] = {"const": version, "title": "Schema Version", "type": "integer"}
    if model is ConfigRecord and version == 2:
        body = _config_file_layout(body)
    else:
        body.setdefault("required", [])
        if "schema_version" not in body["required"]:
            body["required"].append("schema_version")
    return {
        "$schema": DIALECT,
        "$id": f"arccnet-ckpt/{stem}.v{version}.schema.json",
        **{k: v for k, v in body.items() if k not in ("$schema", "$id")},
        "title": f"{stem}.json, schema_version {version}",
    }


def _config_file_layout(body: dict[str, Any]) -> dict[str, Any]:
    """Version 2 of ``config.json``: any user keys at the top level, the capture under ``_arccnet``."""
    captured = copy.deepcopy(body)
    defs = captured.pop("$defs", {})
    del captured["properties"]["config"]
    captured["required"] = sorted({*captured.get("required", []), "schema_version"})
    captured["title"] = "what arccnet-ckpt captured"
    out: dict[str, Any] = {
        "type": "object",
        "description": "The user's config keys at the top level (any JSON), and the capture under _arccnet.",
        "properties": {RESERVED_CONFIG_KEY: captured},
        "required": [RESERVED_CONFIG_KEY],
        "additionalProperties": True,
    }
    if defs:
        out["$defs"] = defs
    return out


def _filename(stem: str, version: int) -> str:
    return f"{stem}.v{version}.schema.json"


def shipped(name: str, version: int | None = None) -> dict[str, Any]:
    """The schema shipped in the package for file ``name`` at ``version`` (default: the newest).

    Raises:
        ValueError: For an unknown name or version.
    """
    stem = canonical(name)
    version = VERSIONS[stem][-1] if version is None else version
    if version not in VERSIONS[stem]:
        raise ValueError(f"{stem}.json has schema_version {', '.join(map(str, VERSIONS[stem]))}, not {version}")
    text = (resources.files("arccnet_ckpt.records") / "schemas" / _filename(stem, version)).read_text(encoding="utf-8")
    result: dict[str, Any] = json.loads(text)
    return result


def render(schema: dict[str, Any]) -> str:
    """A schema as the shipped files hold it: indented, sorted keys, a trailing newline."""
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def write_all(folder: Path | None = None) -> list[Path]:
    """Regenerate every shipped schema (into the package's ``schemas`` folder by default); return the paths."""
    folder = folder or Path(__file__).with_name("schemas")
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for stem, versions in VERSIONS.items():
        for version in versions:
            if (stem, version) in FROZEN:
                continue
            path = folder / _filename(stem, version)
            path.write_text(render(generate(stem, version)), encoding="utf-8")
            written.append(path)
    return written


if __name__ == "__main__":
    for path in write_all():
        print(path)
