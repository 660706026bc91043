"""The callback's own arguments checked, and the Trainer read into plain values, without a Trainer."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from lightning.pytorch.utilities import CombinedLoader

from arccnet_ckpt import store
from arccnet_ckpt.lightning.observe import argument_config, dataloader_names, epochs_trained
from arccnet_ckpt.lightning.settings import CallbackSettings, checkpoint_filename
from arccnet_ckpt.records import ConfigRecord, validate_artifact


def _checked(tmp_path: Path, **overrides: Any) -> CallbackSettings:
    arguments: dict[str, Any] = {
        "root_name": "flares/binary",
        "data_folder": tmp_path,
        "dirpath": None,
        "model_name": None,
        "loss_function": None,
        "class_names": None,
        "threshold": None,
        "redact_checkpoint_hparams": True,
        "headline_test": "auto",
    }
    return CallbackSettings.checked(**{**arguments, **overrides})


def test_settings_normalise_the_arguments(tmp_path: Path) -> None:
    settings = _checked(tmp_path, class_names=("Quiet", "C", "M_X"), threshold=1, model_name="resnet18")
    assert settings.root_name == "flares/binary"
    assert settings.data_folder == str(tmp_path)
    assert settings.class_names == ["Quiet", "C", "M_X"]
    assert settings.threshold == 1.0
    assert isinstance(settings.threshold, float)
    assert (settings.model_name, settings.loss_function) == ("resnet18", None)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"root_name": None}, r"needs root_name= .* or an explicit dirpath="),
        ({"model_name": "  "}, r"model_name must be a non-empty string or None \(to infer it\), got '  '"),
        ({"loss_function": 3}, r"loss_function must be a non-empty string or None \(to infer it\), got 3"),
        ({"class_names": "Quiet,C"}, r"class_names must be a list of strings such as .*, got 'Quiet,C'"),
        ({"class_names": ["Quiet"]}, r"class_names needs at least two names, got \['Quiet'\]"),
        ({"class_names": ["C", "C"]}, r"class_names must be unique, got \['C', 'C'\]"),
        ({"threshold": "0.5"}, r"threshold must be a number \(e.g. 0.5 for probabilities\), got '0.5'"),
        ({"redact_checkpoint_hparams": "yes"}, r"redact_checkpoint_hparams must be True .* or False .*, got 'yes'"),
        ({"headline_test": "first"}, r"headline_test must be 'auto', 'always' or 'never', got 'first'"),
    ],
)
def test_settings_refuse_a_bad_argument_naming_what_is_allowed(
    tmp_path: Path, overrides: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        _checked(tmp_path, **overrides)


def test_an_explicit_dirpath_needs_no_root_name(tmp_path: Path) -> None:
    assert _checked(tmp_path, root_name=None, dirpath=tmp_path / "run").root_name is None


def test_the_default_checkpoint_filename_names_the_metric_itself() -> None:
    assert checkpoint_filename(None, "val_f1", True) == ("best-epoch{epoch:02d}-val_f1-{val_f1:.3f}", False)
    assert checkpoint_filename("weights", "val_f1", True) == ("weights", True)


def test_epochs_trained_is_the_further_of_processed_and_completed() -> None:
    current = SimpleNamespace(processed=3, completed=2)
    trainer = SimpleNamespace(fit_loop=SimpleNamespace(epoch_progress=SimpleNamespace(current=current)))
    assert epochs_trained(trainer) == 3


def test_test_dataloaders_are_named_by_their_keys() -> None:
    quiet, active_a, active_b, plain = [0, 1], [2, 3], [4, 5], [6, 7]
    trainer = SimpleNamespace(test_dataloaders={"quiet": quiet, "active": [active_a, active_b]})
    assert dataloader_names(trainer, CombinedLoader) == ["quiet", "active.0", "active.1"]
    assert dataloader_names(SimpleNamespace(test_dataloaders=[plain]), CombinedLoader) is None
    assert dataloader_names(SimpleNamespace(test_dataloaders=None), CombinedLoader) is None


def test_the_argument_config_falls_back_to_a_saved_config_only_in_an_explicit_dirpath(tmp_path: Path) -> None:
    store.write_artifact(str(tmp_path), validate_artifact(ConfigRecord, {"config": {"lr": 0.1}}))  # save_config()
    assert argument_config({"lr": 0.2}, str(tmp_path)) == {"lr": 0.2}
    assert argument_config(None, None) is None
    saved = argument_config(None, str(tmp_path))
    assert saved is not None
    assert saved["lr"] == 0.1
