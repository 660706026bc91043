"""The private attributes of Lightning, LightningCLI and the loggers are read in one module, each one guarded.

``arccnet_ckpt.capture.private`` lists every read with its guard and its test; these tests keep that list true.
"""

from __future__ import annotations

import inspect
import re
from pathlib import Path
from typing import Any

import pytest

from arccnet_ckpt.capture import private

SRC = Path(private.__file__).resolve().parents[1]
TESTS = Path(__file__).resolve().parents[1]


def _test_file(name: str) -> Path:
    """A test file of the suite, in tests/unit or tests/integration."""
    (found,) = TESTS.glob(f"*/{name}")
    return found


PRIVATE_MODULE = Path(private.__file__).resolve()

# `getattr(x, "_name"...)` / `hasattr(x, "_name")`, and `x._name` on anything but `self`/`cls`.
_GETATTR = re.compile(r"\b(?:getattr|hasattr)\(\s*[^,()]+,\s*[\"']_[A-Za-z]\w*")
_DOTTED = re.compile(r"(?<![\w.])(?!self\.|cls\.)[A-Za-z_]\w*\._[A-Za-z]\w*")
# A named tuple's documented API starts with an underscore so as not to clash with its fields.
_NAMED_TUPLE_API = ("_fields", "_asdict", "_replace")

DEFAULTS: dict[str, Any] = {
    "mlflow_tracking_uri": None,
    "mlflow_experiment_name": None,
    "mlflow_experiment_id": None,
    "mlflow_run_id": None,
    "mlflow_initialized": False,
    "wandb_run": None,
    "wandb_init_mode": None,
    "wandb_forced_offline": False,
    "wandb_attach_id": None,
    "wandb_run_settings": None,
    "wandb_run_finished": False,
    "comet_experiment": None,
    "comet_experiment_key": None,
    "comet_online": None,
    "folder_logger_version": None,
    "cli_parser": None,
}


def _accessors() -> dict[str, Any]:
    return {
        name: fn
        for name, fn in inspect.getmembers(private, inspect.isfunction)
        if fn.__module__ == private.__name__ and not name.startswith("_")
    }


def _private_reads(path: Path, dotted: bool) -> list[str]:
    found = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        code = line.split("#", 1)[0]
        hits = _GETATTR.findall(code) + (_DOTTED.findall(code) if dotted else [])
        found += [f"{path.relative_to(SRC)}:{number}: {hit}" for hit in hits if not hit.endswith(_NAMED_TUPLE_API)]
    return found


def test_no_module_but_capture_private_reads_a_private_attribute_of_a_foreign_object() -> None:
    """``getattr``/``hasattr`` of an underscore name anywhere in the package, and ``x._name`` in ``capture/`` (where
    foreign objects are read; elsewhere a dotted private read is of the package's own classes)."""
    found = [
        hit
        for path in sorted(SRC.rglob("*.py"))
        if path.resolve() != PRIVATE_MODULE
        for hit in _private_reads(path, dotted=path.parent.name == "capture")
    ]
    assert found == [], "read these through arccnet_ckpt.capture.private, with a guard and a test:\n" + "\n".join(found)


def test_the_guard_finds_a_private_read() -> None:
    """The check above is not blind: it sees the forms a private read takes."""
    lines = [
        '    x = getattr(logger, "_run_id", None)',
        "    y = hasattr(cli, '_parser')",
        "    z = run._settings.mode",
    ]
    assert [bool(_GETATTR.search(line) or _DOTTED.search(line)) for line in lines] == [True, True, True]
    assert not _DOTTED.search("    self._redaction = value")
    assert not _GETATTR.search('getattr(x, "name", None)')


def test_every_accessor_is_listed_with_its_default() -> None:
    assert sorted(_accessors()) == sorted(DEFAULTS)


@pytest.mark.parametrize("name", sorted(DEFAULTS))
def test_each_accessor_returns_its_default_on_an_object_without_the_attribute(name: str) -> None:
    accessor = _accessors()[name]
    args = (object(), "fit") if name == "cli_parser" else (object(),)
    assert accessor(*args) == DEFAULTS[name]


def test_cli_parser_without_a_subcommand_is_the_main_parser() -> None:
    class FakeCli:
        parser = "main"

        def _parser(self, subcommand: str) -> str:
            return f"parser of {subcommand}"

    assert (private.cli_parser(FakeCli(), "fit"), private.cli_parser(FakeCli(), None)) == ("parser of fit", "main")


@pytest.mark.parametrize("name", sorted(DEFAULTS))
def test_each_accessor_names_a_test_that_exists(name: str) -> None:
    doc = inspect.getdoc(_accessors()[name]) or ""
    named = re.findall(r"(test_\w+\.py)::(test_\w+)", doc)
    assert named, f"{name}'s docstring names no test"
    for file, test in named:
        assert re.search(rf"^def {test}\(", _test_file(file).read_text(encoding="utf-8"), re.MULTILINE), (file, test)


def test_the_table_lists_every_attribute_an_accessor_reads_and_tests_that_exist() -> None:
    doc = private.__doc__ or ""
    rows = re.findall(r"^(\S+\._\w+)(?: \(wandb\))?\s+(\S+)\s+(?:cs: )?(test_\w+)$", doc, re.MULTILINE)
    attributes = {row[0].split(".", 1)[1] for row in rows}
    read = set(re.findall(r"getattr\(\w+, \"(_\w+)\"", inspect.getsource(private)))
    assert read == attributes
    sources = _test_file("test_loggers.py").read_text(encoding="utf-8") + _test_file(
        "test_config_sources.py"
    ).read_text(encoding="utf-8")
    for _, _, test in rows:
        assert re.search(rf"^def {test}\(", sources, re.MULTILINE), test
