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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from arccnet_ckpt import capture

LIGHTNING_CLI = "lightning_cli"
"""The section of ``config.json`` (under ``_arccnet``) that holds LightningCLI's config."""

HYDRA = "hydra"
"""The section of ``config.json`` (under ``_arccnet``) that holds Hydra's job config."""

CLI_CONFIG_FILE = "config.yaml"
"""LightningCLI's config, as its ``SaveConfigCallback`` writes it, kept in the run folder under this name."""

HYDRA_FOLDER = "hydra"
"""The run-folder sub-folder that keeps copies of Hydra's ``.hydra/*.yaml`` files."""

_HYDRA_FILES = ("config.yaml", "overrides.yaml", "hydra.yaml")
_REDACTED_HEADER = "# arccnet-ckpt: a copy with secret values replaced by ***\n"


@dataclass(frozen=True)
class SourceCapture:
    """One tool's config as found: its ``config.json`` section and the files to keep in the run folder."""

    name: str
    section: dict[str, Any]
    files: dict[str, bytes] = field(default_factory=dict)

    @property
    def config(self) -> dict[str, Any]:
        """The tool's config (JSON-safe), ``{}`` when it could not be read."""
        value = self.section.get("config")
        return value if isinstance(value, dict) else {}


def find(trainer: Any, namespace: str) -> list[SourceCapture]:
    """Every tool config present in this process: Hydra's first, then LightningCLI's (the precedence of inferred
    names, see the README's "Inference when names are not given").

    Each one is captured :func:`~arccnet_ckpt.capture.safely`: a tool whose state cannot be read costs a warning.
    """
    found = [
        capture.safely("Hydra's config", hydra_config, None),
        capture.safely("LightningCLI's config", lambda: lightning_cli_config(trainer, namespace), None),
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
    subcommand = getattr(cli, "subcommand", None) if cli is not None else None
    saver = next(
        (cb for cb in getattr(trainer, "callbacks", []) if isinstance(cb, cli_module.SaveConfigCallback)), None
    )
    if saver is not None:
        parser, config = saver.parser, saver.config
    elif cli is not None:
        config = cli.config.get(str(subcommand), cli.config) if subcommand else cli.config
        choose = getattr(cli, "_parser", None)  # private: the subcommand's parser; guarded, the main one otherwise
        parser = choose(subcommand) if callable(choose) and subcommand else cli.parser
    else:
        return None
    section: dict[str, Any] = {
        "subcommand": subcommand,
        "config_files": [_path_text(p) for p in (config.get("config") or [])],
    }
    files: dict[str, bytes] = {}
    try:
        text = parser.dump(config, skip_none=False)
    except Exception as e:  # a value jsonargparse cannot dump: keep what can be kept, say why
        plain, unserializable = capture.to_jsonable_listing(_namespace_dict(config))
        section.update(config=plain, unserializable=unserializable, file=None)
        section["error"] = f"LightningCLI could not dump its config ({type(e).__name__}: {e})"[:500]
        return SourceCapture(LIGHTNING_CLI, section)
    copy, redacted = redacted_yaml(text)
    plain, unserializable = capture.to_jsonable_listing(_yaml_load(text))
    section.update(config=plain, unserializable=unserializable, file=CLI_CONFIG_FILE, redacted=redacted)
    files[CLI_CONFIG_FILE] = copy.encode("utf-8")
    return SourceCapture(LIGHTNING_CLI, section, files)


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
    overrides = [capture.redact_text(str(o)) for o in typed.get("task") or []]
    choices = {str(k): v for k, v in dict(hc.runtime.get("choices") or {}).items() if not str(k).startswith("hydra/")}
    job = hc.get("job") or {}
    section: dict[str, Any] = {
        "config": None,
        "overrides": overrides,
        "output_dir": output_dir,
        "job_name": _string(job.get("name")),
        "mode": getattr(hc.get("mode"), "name", None),
        "job_num": job.get("num"),
        "choices": capture.to_jsonable(choices),
        "files": [],
        "unserializable": [],
        "redacted": False,
    }
    files: dict[str, bytes] = {}
    folder = os.path.join(output_dir, subdir) if output_dir and subdir else None
    if folder is not None:
        for name in _HYDRA_FILES:
            source = os.path.join(folder, name)
            if not os.path.isfile(source):
                continue
            with open(source, encoding="utf-8") as f:
                text = f.read()
            copy, redacted = redacted_yaml(text)
            section["redacted"] = section["redacted"] or redacted
            files[f"{HYDRA_FOLDER}/{name}"] = copy.encode("utf-8")
            if name == "config.yaml":
                section["config"], section["unserializable"] = capture.to_jsonable_listing(_resolved(source))
    section["files"] = sorted(files)
    return SourceCapture(HYDRA, section, files)


def _resolved(path: str) -> Any:
    """A saved Hydra config with its interpolations resolved; unresolvable ones are kept as written."""
    from omegaconf import OmegaConf

    config = OmegaConf.load(path)
    try:
        return OmegaConf.to_container(config, resolve=True)
    except Exception:  # an interpolation that cannot be resolved outside the task (a missing env var...)
        return OmegaConf.to_container(config, resolve=False)


def _string(value: Any) -> str | None:
    return None if value is None else str(value)


# --------------------------------------------------------------------------------------------------------- YAML


def redacted_yaml(text: str) -> tuple[str, bool]:
    """``text`` as is when it holds no secret, else the same YAML with each secret value replaced by ``***``
    (comments and layout are then lost; the copy starts with a comment saying so).

    Returns:
        The text to keep, and whether anything was hidden.
    """
    data = _yaml_load(text)
    clean, changed = _redact(data)
    if not changed:
        return text, False
    import yaml

    return _REDACTED_HEADER + yaml.safe_dump(clean, sort_keys=False, allow_unicode=True), True


def _yaml_load(text: str) -> Any:
    import yaml

    return yaml.safe_load(text)


def _redact(value: Any) -> tuple[Any, bool]:
    """Hide secret values in plain YAML data, leaving everything else exactly as it is."""
    if isinstance(value, Mapping):
        out: dict[Any, Any] = {}
        changed = False
        for key, item in value.items():
            if capture.is_secret_key(key) and item is not None and item != capture.REDACTED:
                out[key], hidden = capture.REDACTED, True
            else:
                out[key], hidden = _redact(item)
            changed = changed or hidden
        return out, changed
    if isinstance(value, list):
        items = [_redact(item) for item in value]
        return [item for item, _ in items], any(hidden for _, hidden in items)
    if isinstance(value, str):
        clean = capture.redact_text(value)
        return clean, clean != value
    return value, False
