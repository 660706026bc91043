"""The configs the user's own tools already hold: LightningCLI's parsed config and Hydra's job config.

Both are found without a line of user code, and each is recorded in ``config.json`` under its own section
(``lightning_cli``, ``hydra``), never merged into another. Copies of the tools' own YAML files are kept in the run
folder: ``config.yaml`` (what LightningCLI's ``SaveConfigCallback`` writes) and ``hydra/config.yaml``,
``hydra/overrides.yaml``, ``hydra/hydra.yaml`` (Hydra's ``.hydra`` folder).

Nothing here imports jsonargparse, Hydra or OmegaConf unless the user's program already did: a run without them pays
nothing. Secrets are hidden in the sections and in the copies (a copy is byte for byte unless a secret had to be
replaced by ``***``; its section then says ``redacted``).
"""

from __future__ import annotations

import inspect
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from arccnet_ckpt.capture import private
from arccnet_ckpt.capture.config import safely
from arccnet_ckpt.capture.jsonsafe import omegaconf_plain, snapshot, to_jsonable
from arccnet_ckpt.capture.redact import Redaction, env_references, load_yaml, redact_text, redacted_yaml

LIGHTNING_CLI = "lightning_cli"
"""The section of ``config.json`` (under ``_arccnet``) that holds LightningCLI's config."""

HYDRA = "hydra"
"""The section of ``config.json`` (under ``_arccnet``) that holds Hydra's job config."""

CLI_CONFIG_FILE = "config.yaml"
"""LightningCLI's config, as its ``SaveConfigCallback`` writes it, kept in the run folder under this name."""

HYDRA_FOLDER = "hydra"
"""The run-folder sub-folder that keeps copies of Hydra's ``.hydra/*.yaml`` files."""

_HYDRA_FILES = ("config.yaml", "overrides.yaml", "hydra.yaml")


@dataclass(frozen=True)
class SourceCapture:
    """One tool's config as found: its ``config.json`` section and the files to keep in the run folder."""

    name: str
    section: dict[str, Any]
    files: dict[str, bytes] = field(default_factory=dict)
    redaction: Redaction = field(default_factory=Redaction)
    """The secret values it hid and the environment values it read, to hide them wherever else they appear (the
    command line, a logger's folder)."""

    @property
    def config(self) -> dict[str, Any]:
        """The tool's config (JSON-safe), ``{}`` when it could not be read."""
        value = self.section.get("config")
        return value if isinstance(value, dict) else {}


def find(trainer: Any, namespace: str) -> list[SourceCapture]:
    """Every tool config present in this process: Hydra's first, then LightningCLI's (the precedence of inferred
    names, see the README's "Inference when names are not given").

    Each one is captured :func:`~arccnet_ckpt.safely`: a tool whose state cannot be read costs a warning.
    """
    found = [
        safely("Hydra's config", hydra_config, None),
        safely("LightningCLI's config", lambda: lightning_cli_config(trainer, namespace), None),
    ]
    return [source for source in found if source is not None]


def files_of(sources: Sequence[SourceCapture]) -> dict[str, bytes]:
    """The copies every source keeps in the run folder, by their path in it."""
    return {name: data for source in sources for name, data in source.files.items()}


# ------------------------------------------------------------------------------------------------- LightningCLI


def lightning_cli_config(trainer: Any, namespace: str) -> SourceCapture | None:
    """LightningCLI's parsed config, when a ``LightningCLI`` built this Trainer; else ``None``.

    The config and its parser come from the CLI's ``SaveConfigCallback`` among the Trainer's callbacks (the public
    carrier Lightning itself saves ``config.yaml`` from). With ``save_config_callback=None``, which users set to
    avoid the ``config.yaml`` clash between runs, the ``LightningCLI`` object is looked up on the call stack
    (``fit`` is called from inside it, or from a function that holds it).
    """
    cli_module = sys.modules.get(f"{namespace}.cli")
    if cli_module is None:
        return None  # the CLI module was never imported: no LightningCLI in this process
    cli = _on_stack(cli_module.LightningCLI)
    if cli is not None and getattr(cli, "trainer", None) is not trainer:
        cli = None  # a CLI that parsed the arguments, but this Trainer was built by the script: not its config
    subcommand = getattr(cli, "subcommand", None) if cli is not None else None
    saver = next(
        (cb for cb in getattr(trainer, "callbacks", []) if isinstance(cb, cli_module.SaveConfigCallback)), None
    )
    if saver is not None:
        parser, config = saver.parser, saver.config
    elif cli is not None:
        config = cli.config.get(str(subcommand), cli.config) if subcommand else cli.config
        parser = private.cli_parser(cli, subcommand)
    else:
        return None
    section: dict[str, Any] = {
        "subcommand": subcommand,
        "config_files": [_path_text(p) for p in (config.get("config") or [])],
    }
    try:
        text = parser.dump(config, skip_none=False)
    except Exception as e:  # a value jsonargparse cannot dump: keep what can be kept, say why
        taken = snapshot(_namespace_dict(config))
        section.update(config=taken.value, unserializable=taken.unserializable, file=None)
        redaction = Redaction(frozenset(taken.secrets))
        why = redaction.message(f"{type(e).__name__}: {e}")  # jsonargparse's message may quote the value
        section["error"] = f"LightningCLI could not dump its config ({why})"[:500]
        return SourceCapture(LIGHTNING_CLI, section, redaction=redaction)
    taken = snapshot(load_yaml(text))
    redaction = Redaction(frozenset(taken.secrets))
    copy, redacted = redacted_yaml(text, redaction)
    unserializable = [*taken.unserializable, *_undumped(taken.value, "")]
    section.update(config=taken.value, unserializable=unserializable, file=CLI_CONFIG_FILE, redacted=redacted)
    return SourceCapture(LIGHTNING_CLI, section, {CLI_CONFIG_FILE: copy.encode("utf-8")}, redaction)


_UNDUMPED = "Unable to serialize instance "


def _undumped(value: Any, path: str) -> list[dict[str, str]]:
    """The values jsonargparse wrote as ``"Unable to serialize instance <function f at 0x...>"`` (a function or an
    object given to an ``Any`` or ``Callable`` argument), listed like any value JSON cannot hold."""
    if isinstance(value, dict):
        return [e for k, v in value.items() for e in _undumped(v, f"{path}.{k}" if path else str(k))]
    if isinstance(value, list):
        return [e for i, v in enumerate(value) for e in _undumped(v, f"{path}[{i}]")]
    if isinstance(value, str) and value.startswith(_UNDUMPED):
        shown = value[len(_UNDUMPED) :]
        kind = shown[1:].split(" ", 1)[0] if shown.startswith("<") else "unknown"
        return [{"path": path, "type": kind, "repr": shown}]
    return []


def _on_stack(cls: type[Any]) -> Any:
    """The innermost instance of ``cls`` held by a frame of the current call stack, else ``None``."""
    frame = inspect.currentframe()
    try:
        while frame is not None:
            for value in frame.f_locals.values():
                if isinstance(value, cls):
                    return value
            frame = frame.f_back
        return None
    finally:
        del frame


def _path_text(path: Any) -> str:
    """A jsonargparse ``Path`` (or anything) as the absolute path it names, when it has one."""
    absolute = getattr(path, "absolute", None)
    return str(absolute if isinstance(absolute, str) else path)


def _namespace_dict(config: Any) -> Any:
    as_dict = getattr(config, "as_dict", None)
    return as_dict() if callable(as_dict) else config


# -------------------------------------------------------------------------------------------------------- Hydra


def hydra_config() -> SourceCapture | None:
    """Hydra's job config, overrides and output folder when Hydra runs this process (``HydraConfig.initialized()``);
    else ``None``.

    The config is the job's ``.hydra/config.yaml`` with every interpolation resolved (``${hydra:...}`` too: Hydra is
    still running). With ``hydra.output_subdir=null`` Hydra saves no files: the section then has no config, and
    ``config=cfg`` records it as the callback's own config.
    """
    if "hydra" not in sys.modules:
        return None  # Hydra was never imported: it cannot be running
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        return None
    hc: Any = HydraConfig.get()  # a DictConfig at run time, typed as Hydra's dataclass
    output_dir = _string(hc.runtime.get("output_dir"))
    subdir = _string(hc.get("output_subdir"))
    from omegaconf import OmegaConf

    typed: Any = OmegaConf.to_container(hc.overrides, resolve=False)  # as typed: `x=${y}` is not resolved here
    overrides = [redact_text(str(o)) for o in typed.get("task") or []]
    choices = {str(k): v for k, v in dict(hc.runtime.get("choices") or {}).items() if not str(k).startswith("hydra/")}
    job = hc.get("job") or {}
    section: dict[str, Any] = {
        "config": None,
        "overrides": overrides,
        "output_dir": redact_text(output_dir) if output_dir else None,  # may be named after the overrides
        "job_name": _string(job.get("name")),
        "mode": getattr(hc.get("mode"), "name", None),
        "job_num": job.get("num"),
        "choices": to_jsonable(choices),
        "files": [],
        "unserializable": [],
        "redacted": False,
    }
    files: dict[str, bytes] = {}
    task = typed.get("task") or []
    secrets = _override_secrets(task)
    raw_config: Any = None
    folder = os.path.join(output_dir, subdir) if output_dir and subdir else None
    config_file = os.path.join(folder, "config.yaml") if folder else None
    if config_file is not None and os.path.isfile(config_file):
        from omegaconf import OmegaConf

        loaded = OmegaConf.load(config_file)
        raw_config = OmegaConf.to_container(loaded, resolve=False)
        taken = snapshot(omegaconf_plain(loaded))
        section["config"], section["unserializable"] = taken.value, taken.unserializable
        secrets |= taken.secrets
    # A secret given as an override (`+db.password="a b"`, `+wandb={api_key:x}`) is hidden by its key, and by its
    # value wherever else it appears (the task list and override_dirname in hydra.yaml, a folder named after them);
    # a value read from the environment is written back as ${oc.env:NAME}.
    redaction = Redaction(frozenset(secrets), env_references({"task": task, "config": raw_config}))
    section["overrides"] = [redaction.text(o) for o in overrides]
    section["output_dir"] = redaction.text(section["output_dir"]) if section["output_dir"] else None
    for name in _HYDRA_FILES if folder else ():
        source = os.path.join(str(folder), name)
        if not os.path.isfile(source):
            continue
        with open(source, encoding="utf-8") as f:
            copy, redacted = redacted_yaml(f.read(), redaction)
        section["redacted"] = section["redacted"] or redacted
        files[f"{HYDRA_FOLDER}/{name}"] = copy.encode("utf-8")
    section["files"] = sorted(files)
    return SourceCapture(HYDRA, section, files, redaction)


def _override_secrets(overrides: Sequence[str]) -> set[str]:
    """The secret values given as overrides (``+db.password="a b"``, ``+wandb={api_key:x}``), parsed as Hydra parses
    them: known even when Hydra saves no config (``hydra.output_subdir=null``)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    secrets: set[str] = set()
    parser = OverridesParser.create()
    for text in overrides:
        try:
            (override,) = parser.parse_overrides([str(text)])
            name = str(override.key_or_group).rsplit(".", 1)[-1]
            secrets |= snapshot({name: override.value()}).secrets
        except Exception:  # noqa: S112 - an override Hydra accepted but this parser does not: its key rule still applies
            continue
    return secrets


def _string(value: Any) -> str | None:
    return None if value is None else str(value)
