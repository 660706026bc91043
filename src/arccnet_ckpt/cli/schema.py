"""``schema [NAME]``: the JSON Schema (draft 2020-12) of a run folder's file, or the list of the shipped ones (the
schemas themselves are :mod:`arccnet_ckpt.records.schema`'s)."""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from typing import Any

from arccnet_ckpt.cli import output
from arccnet_ckpt.cli.select import EXIT_OK, UsageError


@dataclass
class Schemas(output.Rendered):
    """The files that have a shipped schema, and their ``schema_version``s."""

    versions: dict[str, tuple[int, ...]]

    def document(self) -> dict[str, Any]:
        return {
            "schema": "arccnet-ckpt/schemas",
            "files": [{"name": n, "versions": list(v)} for n, v in self.versions.items()],
        }

    def text(self, colour: bool) -> None:
        rows = [[name, ", ".join(map(str, versions)), f"{name}.json"] for name, versions in self.versions.items()]
        output.table(["NAME", "SCHEMA_VERSION", "FILE"], rows, colour=colour)


def schemas() -> Schemas:
    """Every file with a shipped schema."""
    from arccnet_ckpt.records import schema

    return Schemas({name: tuple(versions) for name, versions in schema.VERSIONS.items()})


def schema_text(name: str, version: int | None) -> str:
    """The schema of the file ``name`` at ``version`` (default: the newest), as JSON text.

    Raises:
        UsageError: For an unknown file or version (the message names the known ones).
    """
    from arccnet_ckpt.records import schema

    try:
        document = schema.shipped(name, version)
    except ValueError as e:
        raise UsageError(str(e)) from e
    return schema.render(document)


def cmd_schema(args: argparse.Namespace) -> int:
    """``schema [NAME]``: print a schema, or list them."""
    if args.name is None:
        output.render(schemas(), args.format)
    else:
        sys.stdout.write(schema_text(args.name, args.schema_version))
    return EXIT_OK
