"""The callback's own constructor arguments, checked once. No Lightning import.

:meth:`CallbackSettings.checked` is where ``ArcCheckpointCallback(...)`` refuses a bad argument: each error says what
was wrong, what is allowed and what was passed. The ``ModelCheckpoint`` arguments are Lightning's to check;
:func:`checkpoint_filename` is the one place the callback changes one of them (the default file name).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from arccnet_ckpt import layout
from arccnet_ckpt.capture.groups import check_group
from arccnet_ckpt.core.evaluations import HEADLINE_CHOICES, HeadlineChoice

__all__ = ["CallbackSettings", "checkpoint_filename"]


@dataclass(frozen=True)
class CallbackSettings:
    """The callback's arguments, checked and normalised (the callback keeps each as an attribute of its own)."""

    root_name: str | None
    data_folder: str
    model_name: str | None
    loss_function: str | None
    class_names: list[str] | None
    threshold: float | None
    redact_checkpoint_hparams: bool
    headline_test: HeadlineChoice
    group: str | None = None
    group_index: int | None = None

    @classmethod
    def checked(
        cls,
        *,
        root_name: str | None,
        data_folder: str | Path | None,
        dirpath: str | Path | None,
        model_name: Any,
        loss_function: Any,
        class_names: Any,
        threshold: Any,
        redact_checkpoint_hparams: Any,
        headline_test: Any,
        group: Any = None,
        group_index: Any = None,
    ) -> CallbackSettings:
        """The settings of these arguments.

        Raises:
            ValueError: For a missing or bad ``root_name``, a name that is not a non-empty string, fewer than two or
                repeated class names, a threshold that is no number, a ``redact_checkpoint_hparams`` that is no bool,
                an unknown ``headline_test``, a ``group`` that is not a safe name or a ``group_index`` that is not a
                non-negative int; each message names what is allowed and what was passed.
        """
        if root_name is None and dirpath is None:
            raise ValueError(
                "ArcCheckpointCallback needs root_name= (a sub-path under <data_folder>/checkpoints, e.g. "
                "'flares/binary_classification' or 'cutouts/hale'), or an explicit dirpath= for the run folder"
            )
        root = layout.validate_root_name(root_name) if root_name is not None else None
        folder = layout.resolve_data_folder(data_folder)
        if root is not None:
            layout.check_path_length(folder, root)
        model = _optional_name("model_name", model_name)
        loss = _optional_name("loss_function", loss_function)
        names = _check_class_names(class_names)
        if threshold is not None and not isinstance(threshold, (int, float)):
            raise ValueError(f"threshold must be a number (e.g. 0.5 for probabilities), got {threshold!r}")
        if not isinstance(redact_checkpoint_hparams, bool):
            raise ValueError(
                "redact_checkpoint_hparams must be True (hide secret values in the checkpoint's hyper_parameters) or "
                f"False (keep Lightning's hparams as given), got {redact_checkpoint_hparams!r}"
            )
        if headline_test not in HEADLINE_CHOICES:
            raise ValueError(
                f"headline_test must be 'auto', 'always' or 'never', got {headline_test!r}: 'auto' makes the run's "
                "first test of its best checkpoint the headline, 'always' and 'never' decide for this callback's tests"
            )
        group, group_index = check_group(group, group_index)
        return cls(
            root_name=root,
            data_folder=folder,
            model_name=model,
            loss_function=loss,
            class_names=names,
            threshold=None if threshold is None else float(threshold),
            redact_checkpoint_hparams=redact_checkpoint_hparams,
            headline_test=headline_test,
            group=group,
            group_index=group_index,
        )


def checkpoint_filename(filename: str | None, monitor: str | None, auto_insert_metric_name: bool) -> tuple[str, bool]:
    """``ModelCheckpoint``'s ``filename`` and ``auto_insert_metric_name``: the user's as given, else the default
    template ``best-epoch{EE}-<monitor>-{value}``, which names the metric itself (so no name is inserted)."""
    if filename is not None:
        return filename, auto_insert_metric_name
    return layout.best_checkpoint_template(monitor), False


def _optional_name(what: str, value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{what} must be a non-empty string or None (to infer it), got {value!r}")
    return value


def _check_class_names(class_names: Any) -> list[str] | None:
    if class_names is None:
        return None
    if isinstance(class_names, str) or not isinstance(class_names, Sequence):
        raise ValueError(f"class_names must be a list of strings such as ['Quiet', 'C', 'M_X'], got {class_names!r}")
    names = [str(n) for n in class_names]
    if len(names) < 2:
        raise ValueError(f"class_names needs at least two names, got {names!r}")
    if len(set(names)) != len(names):
        raise ValueError(f"class_names must be unique, got {names!r}")
    return names
