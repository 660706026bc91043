"""Where the JSON of a run folder is read (:mod:`arccnet_ckpt.store` is where it is written): THE reader.

Every file of a run folder is read one way: its bytes from the store (:func:`~arccnet_ckpt.store.read_bounded`: a
bounded, non-blocking read that refuses FIFOs, devices and files over 16 MiB), a strict parse into the file model,
and, for a file of the old manual system (no ``schema_version``), the legacy upgrade
(:func:`~arccnet_ckpt.records.legacy.upgrade`) before validation. A file that has a ``schema_version`` is validated
as it is, with no conversion.

:class:`RunFiles` holds what was read of one folder (each file read once, with its error or its notes);
:class:`~arccnet_ckpt.runs.Run` reads through one, and :func:`read_record` reads one file the same way.
"""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from arccnet_ckpt import store
from arccnet_ckpt.errors import ArtifactError
from arccnet_ckpt.layout import parse_checkpoint_name
from arccnet_ckpt.records import legacy
from arccnet_ckpt.records.artifacts import ARTIFACTS
from arccnet_ckpt.records.base import ArtifactT, validate_artifact
from arccnet_ckpt.records.minimal import MinimalLogging

if TYPE_CHECKING:
    from arccnet_ckpt.store import PathLike


def folder_path(path: PathLike) -> str:
    """A run folder's path as readers keep it: a URL without its trailing ``/``, a local path absolute (``file://``
    dropped)."""
    text = os.fspath(path)
    return text.rstrip("/") if store.is_remote(text) else os.path.abspath(text.removeprefix("file://"))


def read_record(run_dir: PathLike, model: type[ArtifactT]) -> ArtifactT | None:
    """Read one file of a run folder the way :func:`~arccnet_ckpt.runs.load_run` does (legacy files converted), or
    ``None`` if absent.

    The one reader of the package: the recorder reads a run's files through it before it adds to them.

    Raises:
        ArtifactError: If the file cannot be read, is not valid JSON, or is not a valid ``model``.
    """
    path = folder_path(run_dir)
    return RunFiles(path, store.basename(path)).get(model)


def unreadable(source: str, error: BaseException) -> ArtifactError:
    """The one message for a file of a run folder that cannot be read or decoded, naming the file."""
    return ArtifactError(f"{source}: cannot be read: {store.unreadable_reason(error)}")


class RunFiles:
    """The files of one run folder as read: each file read once and kept, with its error or its notes.

    Attributes:
        path: The run folder (absolute, or a URL).
        name: The folder's name.
        loaded: Each file read, by file name: its model, or ``None`` when the folder has no such file.
        errors: Each file that could not be read or is invalid, by file name: the error, raised again on each access.
        notes: What was converted or could not be interpreted, by file name (and ``checkpoints``).
        legacy: The files that came from the old manual system (a dict used as an ordered set).
    """

    # Plain dicts, not sets: an empty dict, or one holding only strings, costs the garbage collector nothing, which
    # counts when a listing builds ten thousand runs.
    __slots__ = ("_checkpoints", "errors", "legacy", "loaded", "name", "notes", "path")

    def __init__(self, path: str, name: str) -> None:
        """Point at a run folder (absolute path or URL, see :func:`folder_path`) without reading anything."""
        self.path = path
        self.name = name
        self.loaded: dict[str, Any] = {}
        self.errors: dict[str, ArtifactError] = {}
        self.notes: dict[str, list[str]] = {}
        self.legacy: dict[str, None] = {}
        self._checkpoints: list[str] | None = None

    def get(self, model: type[ArtifactT]) -> ArtifactT | None:
        """The file of ``model``, read on first use; ``None`` if the folder has none.

        Raises:
            ArtifactError: If it cannot be read or is invalid (on every access).
        """
        filename = model.filename
        if filename in self.loaded:
            return self.loaded[filename]
        if filename in self.errors:
            raise self.errors[filename]
        source = store.join(self.path, filename)
        try:
            raw = store.read_bounded(source)
        except FileNotFoundError:
            self.loaded[filename] = None
            return None
        except (OSError, UnicodeDecodeError) as e:
            error = unreadable(source, e)
            self.errors[filename] = error
            raise error from e
        return self.adopt(model, raw)

    def adopt(self, model: type[ArtifactT], raw: bytes) -> ArtifactT:
        """Parse ``raw`` as ``model`` (converting a legacy file) and keep the result or the error.

        Whatever the bytes hold, the outcome is the file's value or an :class:`ArtifactError` naming it: a file from a
        shared folder is untrusted input, and one bad file must not stop a listing of all the others.
        """
        filename = model.filename
        try:
            value = self._parse(model, raw)
        except ArtifactError as e:
            self.errors[filename] = e
            raise
        # RecursionError: [[[[...]]]] nested deeper than Python's parser goes; the others: a legacy file's values of
        # a type or range its conversion did not expect (a year-1 time, a list where a name belongs).
        except (RecursionError, ValueError, TypeError, OverflowError) as e:
            error = unreadable(store.join(self.path, filename), e)
            self.errors[filename] = error
            raise error from e
        self.loaded[filename] = value
        return value

    def load_all(self, *, strict: bool) -> None:
        """Read every file not read yet; with ``strict``, raise the first :class:`ArtifactError`."""
        for model in ARTIFACTS.values():
            try:
                self.get(model)
            except ArtifactError:
                if strict:
                    raise

    def checkpoints(self) -> list[str]:
        """Every ``.ckpt`` file directly in the folder (absolute paths or URLs), sorted by name; listed once."""
        if self._checkpoints is None:
            self._checkpoints = sorted(p for p in store.list_files(self.path) if p.endswith(".ckpt"))
        return self._checkpoints

    def _parse(self, model: type[ArtifactT], raw: bytes) -> ArtifactT:
        # Fast path: a file the package wrote. model_fields_set tells a real schema_version from the default.
        try:
            fast = model.model_validate_json(raw)
            if "schema_version" in fast.__pydantic_fields_set__:
                return fast
        except ValidationError:
            pass
        source = store.join(self.path, model.filename)
        try:
            data = json.loads(raw)  # NaN and Infinity tokens parse: a legacy file's upgrade reads them as null
        except ValueError as e:
            raise ArtifactError(f"{source}: not valid JSON: {e}") from e
        if not isinstance(data, dict):
            raise ArtifactError(f"{source}: expected a JSON object, got {type(data).__name__}")
        if not legacy.is_legacy(data):
            return validate_artifact(model, data, source=source)
        wanted = legacy.wanted_best_sources(model, data)
        sources = self._best_sources(*wanted) if wanted is not None else ()
        data, notes = legacy.upgrade(model, data, legacy.LegacyContext(self.name, sources))
        value = validate_artifact(model, data, source=source)
        self.legacy[model.filename] = None
        self.notes.setdefault(model.filename, []).extend(notes)
        return value

    def _best_sources(self, monitor: str, mode: str | None) -> tuple[legacy.BestSource, ...]:
        """Where a legacy summary's missing best value and epoch may come from: ``minimal_logging.json`` when it
        records the same metric, then the name of the checkpoint :func:`~arccnet_ckpt.runs.checkpoints.pick_best`
        picks."""
        # runs/ decides a metric's direction (metric_mode) and reads through this module: imported on use, for a
        # legacy summary alone.
        from arccnet_ckpt.runs.checkpoints import pick_best

        sources: list[legacy.BestSource] = []
        try:
            minimal = self.get(MinimalLogging)
        except ArtifactError:
            minimal = None
        if minimal is not None and minimal.best_metric_name == monitor:
            sources.append((MinimalLogging.filename, minimal.best_epoch, minimal.best_metric_value))
        chosen = pick_best(self.checkpoints(), monitor, mode)
        parsed = parse_checkpoint_name(store.basename(chosen)) if chosen is not None else None
        if chosen is not None and parsed is not None:
            sources.append((f"the checkpoint file name {store.basename(chosen)}", *parsed))
        return tuple(sources)
