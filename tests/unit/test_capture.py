"""Turning configs and Lightning objects into JSON-safe data, without a Trainer."""

from __future__ import annotations

import argparse
import dataclasses
import enum
import json
import math
import types
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pydantic
import pytest
import torch
from omegaconf import OmegaConf

from arccnet_ckpt import ArcCkptWarning
from arccnet_ckpt.capture.config import config_to_dict
from arccnet_ckpt.capture.jsonsafe import MAX_LIST_ITEMS, snapshot, to_jsonable
from arccnet_ckpt.capture.names import class_name_sources, infer_loss_function, infer_model_name
from arccnet_ckpt.capture.redact import is_secret_key, mask_secrets, redact_argv, redact_text


class Color(enum.Enum):
    RED = 1


@dataclasses.dataclass
class Augment:
    flip: bool = True
    scale: tuple[float, float] = (0.9, 1.1)


class Settings(pydantic.BaseModel):
    lr: float = 1e-3
    api_key: str = "hidden"
    root: Path = Path("/data")


class Exploding:
    def __repr__(self) -> str:
        raise RuntimeError("repr is broken")


@pytest.mark.parametrize(
    ("key", "secret"),
    [
        ("api_key", True),
        ("COMET_API_KEY", True),
        ("WANDB_API_KEY", True),
        ("apiKey", True),
        ("token", True),
        ("access_token", True),
        ("password", True),
        ("DB_PASSWORD", True),
        ("secret", True),
        ("aws_secret_access_key", True),
        ("private_key", True),
        ("credentials", True),
        ("max_tokens", False),
        ("tokenizer", False),
        ("keyboard", False),
        ("learning_rate", False),
        (42, False),
    ],
)
def test_secret_keys_are_recognised_by_whole_words(key, secret) -> None:
    assert is_secret_key(key) is secret


def test_to_jsonable_covers_every_kind_of_value() -> None:
    value = {
        "path": Path("/a/b"),
        "tuple": (1, 2),
        "set": {3, 1, 2},
        "scalar_tensor": torch.tensor(2.5),
        "tensor": torch.tensor([[1, 2], [3, 4]]),
        "numpy": np.arange(3),
        "np_float": np.float32(0.5),
        "dtype": torch.float16,
        "device": torch.device("cpu"),
        "enum": Color.RED,
        "dataclass": Augment(),
        "pydantic": Settings(),
        "namespace": argparse.Namespace(a=1, password="p"),  # noqa: S106
        "omegaconf": OmegaConf.create({"x": 1, "y": "${x}"}),
        "nan": math.nan,
        "inf": -math.inf,
        7: "int key",
        (1, 2): "tuple key",
        "object": object.__new__(Exploding),
    }
    out = to_jsonable(value)
    json.dumps(out, allow_nan=False)  # strict JSON
    assert out["path"] == "/a/b"
    assert out["tuple"] == [1, 2]
    assert out["set"] == [1, 2, 3]
    assert out["scalar_tensor"] == 2.5
    assert out["tensor"] == [[1, 2], [3, 4]]
    assert out["numpy"] == [0, 1, 2]
    assert out["np_float"] == 0.5
    assert (out["dtype"], out["device"], out["enum"]) == ("torch.float16", "cpu", "RED")
    assert out["dataclass"] == {"flip": True, "scale": [0.9, 1.1]}
    assert out["pydantic"] == {"lr": 1e-3, "api_key": "***", "root": "/data"}
    assert out["namespace"] == {"a": 1, "password": "***"}
    assert out["omegaconf"] == {"x": 1, "y": 1}
    assert (out["nan"], out["inf"]) == (None, None)
    assert out["7"] == "int key"
    assert out["[1, 2]"] == "tuple key"
    assert out["object"].startswith("<unserializable Exploding: RuntimeError: repr is broken")


def test_cycles_and_huge_tensors_do_not_explode() -> None:
    a: dict = {"name": "a"}
    a["self"] = a
    lst: list = [1]
    lst.append(lst)
    out = to_jsonable({"a": a, "lst": lst, "big": torch.zeros(MAX_LIST_ITEMS + 1)})
    assert out["a"] == {"name": "a", "self": "<cycle: dict>"}
    assert out["lst"] == [1, "<cycle: list>"]
    assert out["big"] == f"<Tensor shape=({MAX_LIST_ITEMS + 1},) dtype=torch.float32>"
    shared = [1, 2]
    assert to_jsonable({"x": shared, "y": shared}) == {"x": [1, 2], "y": [1, 2]}  # shared is not a cycle


def test_url_credentials_and_argv_secrets_are_redacted() -> None:
    assert (
        redact_text("see https://alice:pa55@host/x and s3://k:s@b") == "see https://alice:***@host/x and s3://k:***@b"
    )
    assert redact_text("no credentials here: https://host/x") == "no credentials here: https://host/x"
    argv = ["train.py", "--comet-api-key=abc", "--token", "xyz", "--lr", "0.1", "--db=postgres://u:pw@h/db"]
    assert redact_argv(argv) == [
        "train.py",
        "--comet-api-key=***",
        "--token",
        "***",
        "--lr",
        "0.1",
        "--db=postgres://u:***@h/db",
    ]


def test_config_module_keeps_public_values_only() -> None:
    config = types.ModuleType("cfg")
    exec(  # noqa: S102
        "import math\nfrom pathlib import Path\nA = 1\nb_lower = (1, 2)\n_hidden = 3\nROOT = Path('/x')\n"
        "def f():\n    pass\nclass K:\n    pass\nSEL = math.pi\n",
        config.__dict__,
    )
    assert config_to_dict(config) == {"A": 1, "b_lower": [1, 2], "ROOT": "/x", "SEL": math.pi}


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        (None, {}),
        ({"a": 1}, {"a": 1}),
        (argparse.Namespace(lr=0.1), {"lr": 0.1}),
        (Augment(), {"flip": True, "scale": [0.9, 1.1]}),
        (Settings(), {"lr": 1e-3, "api_key": "***", "root": "/data"}),
        (OmegaConf.create({"model": {"name": "r18"}}), {"model": {"name": "r18"}}),
        (types.SimpleNamespace(x=1, _y=2), {"x": 1}),
        (5, {"value": 5}),
    ],
)
def test_config_to_dict_accepts_every_config_kind(config, expected) -> None:
    assert config_to_dict(config) == expected


def test_name_inference_order() -> None:
    module = torch.nn.Module()
    module.head = torch.nn.Linear(2, 2)
    module.criterion = torch.nn.BCEWithLogitsLoss()
    assert infer_model_name([{"MODEL_NAME": "cfg"}], {"model_name": "hp"}, module) == "cfg"
    assert infer_model_name([{}], {"backbone": "hp"}, module) == "hp"
    assert infer_model_name([{}], {"model": 3}, module) == "Module"  # non-strings are skipped
    assert infer_loss_function([{"LOSS_TYPE": "focal"}], {"loss": "ce"}, module) == "focal"
    assert infer_loss_function([{}], {"loss": "ce"}, module) == "ce"
    assert infer_loss_function([{}], {}, module) == "BCEWithLogitsLoss"
    assert infer_loss_function([{}], {}, torch.nn.Linear(1, 1)) == "unknown"


def test_names_come_from_the_configs_in_order_then_hparams() -> None:
    module = torch.nn.Module()
    argument = {"LEARNING_RATE": 0.1}
    hydra = {"model": {"model_name": "resnet_hydra"}, "loss": "focal"}
    cli = {"model": {"class_path": "pkg.Net", "init_args": {"model_name": "resnet_cli", "loss": "bce"}}}
    hparams = {"model_name": "from_hparams", "loss": "ce"}
    assert infer_model_name([argument, hydra, cli], hparams, module) == "resnet_hydra"
    assert infer_model_name([argument, None, cli], hparams, module) == "resnet_cli"  # model.init_args, LightningCLI
    assert infer_model_name([{"MODEL_NAME": "arg"}, hydra, cli], hparams, module) == "arg"
    assert infer_model_name([argument], hparams, module) == "from_hparams"
    assert infer_loss_function([argument, hydra, cli], hparams, module) == "focal"
    assert infer_loss_function([argument, None, cli], hparams, module) == "bce"
    assert infer_loss_function([argument], hparams, module) == "ce"


def test_class_names_follow_the_label_order_first_and_a_config_list_last() -> None:
    dm = types.SimpleNamespace(class_names=("a", "b"))
    encoder_order = types.SimpleNamespace(hparams={"class_names": ["C", "M_X", "Quiet"]})
    config = {"CLASSES": ["Quiet", "C", "M_X"]}
    assert class_name_sources({"config": config}, encoder_order, dm) == {
        "module": ["C", "M_X", "Quiet"],
        "datamodule": ["a", "b"],
        "config": ["Quiet", "C", "M_X"],
    }
    assert class_name_sources({"config": config}, types.SimpleNamespace(hparams={}), None) == {
        "config": ["Quiet", "C", "M_X"]
    }
    attribute_wins = types.SimpleNamespace(class_names=["x", "y"], hparams={"CLASS_NAMES": ["y", "x"]})
    assert class_name_sources({"config": {}}, attribute_wins, None) == {"module": ["x", "y"]}
    assert class_name_sources({"config": {}}, None, None) == {}


def test_class_names_of_every_config_are_kept_by_source() -> None:
    configs = {
        "config": {"CLASSES": ["Quiet", "C"]},
        "hydra": {"data": {"class_names": ["C", "Quiet"]}},
        "lightning_cli": {"data": {"class_path": "pkg.Data", "init_args": {"class_names": ["q", "c"]}}},
    }
    assert class_name_sources(configs, None, None) == {
        "config": ["Quiet", "C"],
        "hydra": ["C", "Quiet"],
        "lightning_cli": ["q", "c"],
    }


def test_unserializable_values_are_written_as_their_repr_and_listed_with_their_path() -> None:
    activation = torch.nn.ReLU()
    taken = snapshot({"act": activation, "layers": [1, {"fn": len}], "api_key": object(), "lr": 0.1}, "hparams")
    assert taken.value == {
        "act": "ReLU()",
        "layers": [1, {"fn": "<built-in function len>"}],
        "api_key": "***",
        "lr": 0.1,
    }
    assert taken.unserializable == [
        {"path": "hparams.act", "type": "torch.nn.modules.activation.ReLU", "repr": "ReLU()"},
        {
            "path": "hparams.layers[1].fn",
            "type": "builtins.builtin_function_or_method",
            "repr": "<built-in function len>",
        },
    ]
    assert snapshot({"x": torch.ones(3), "d": {"p": Path("/a")}}).unserializable == []  # converted, not described


def test_hidden_secrets_are_collected_so_they_can_be_hidden_wherever_else_they_appear() -> None:
    taken = snapshot({"wandb": {"api_key": "k-123456"}, "db": {"password": {"user": "u1", "pass": "pa ss,wd"}}})
    assert taken.value == {"wandb": {"api_key": "***"}, "db": {"password": "***"}}
    assert taken.secrets == {"k-123456", "u1", "pa ss,wd"}
    argv = ["train.py", "--model", '{"api_key": "k-123456"}', '+db.password="pa ss,wd"', "lr=1"]
    assert [mask_secrets(a, taken.secrets) for a in argv] == [
        "train.py",
        "--model",
        '{"api_key": "***"}',
        '+db.password="***"',
        "lr=1",
    ]  # "u1" is too short to search for: it would hide every "u1" in a command line


def test_an_unset_secret_stays_unset() -> None:
    assert to_jsonable({"api_key": None, "token": "", "password": "x"}) == {
        "api_key": None,
        "token": "",
        "password": "***",
    }


def test_omegaconf_missing_values_and_unresolvable_interpolations_keep_the_rest(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TRACKER_TOKEN", "tok-abcdef")
    monkeypatch.delenv("UNSET_VARIABLE_X", raising=False)
    config = OmegaConf.create(
        {
            "MODEL_NAME": "resnet18",
            "lr": 0.1,
            "note": "${MODEL_NAME}-${lr}",
            "needed": "???",
            "broken": "${oc.env:UNSET_VARIABLE_X}",
            "header": "Bearer ${oc.env:TRACKER_TOKEN}",
            "nested": {"copy": "${header}", "items": [1, "${lr}"]},
            "literal": "tok-abcdef_baseline",  # a literal that happens to hold the variable's value: untouched
            "with_default": "${oc.env:UNSET_VARIABLE_X,/data}",
            "api_key": "${oc.env:UNSET_VARIABLE_X}",  # unset: not pretended to be set
            "password": "???",
        }
    )
    assert config_to_dict(config) == {
        "MODEL_NAME": "resnet18",
        "lr": 0.1,
        "note": "resnet18-0.1",  # resolved, although another interpolation cannot be
        "needed": "???",
        "broken": "${oc.env:UNSET_VARIABLE_X}",  # kept as written
        "header": "Bearer ${oc.env:TRACKER_TOKEN}",  # never the environment's token
        "nested": {"copy": "Bearer ${oc.env:TRACKER_TOKEN}", "items": [1, 0.1]},
        "literal": "tok-abcdef_baseline",
        "with_default": "${oc.env:UNSET_VARIABLE_X,/data}",
        "api_key": "${oc.env:UNSET_VARIABLE_X}",
        "password": "???",
    }


class _UnreadableConfig(Mapping):  # type: ignore[type-arg]
    def __getitem__(self, key: Any) -> Any:
        raise KeyError(key)

    def __iter__(self) -> Any:
        raise RuntimeError("the config server is down")

    def __len__(self) -> int:
        return 1


def test_a_config_that_cannot_be_read_is_kept_as_its_repr_with_a_warning() -> None:
    with pytest.warns(ArcCkptWarning, match=r"could not be read as a mapping; config\.json keeps it as"):
        taken = config_to_dict(_UnreadableConfig())
    assert taken == {"value": "<unserializable _UnreadableConfig: RuntimeError: the config server is down>"}


def test_redacting_an_assignment_keeps_the_text_around_it() -> None:
    assert redact_text("Secret(token=abc)") == "Secret(token=***)"
    assert redact_text('+db.password="pa ss,word" lr=1') == "+db.password=*** lr=1"
    assert redact_text("api_key='abc,def'") == "api_key=***"
    assert redact_text("f(cfg=g(token=abc))") == "f(cfg=g(token=***))"  # nested keyword reprs
    assert redact_text("namespace(auth=namespace(token='tk_1'))") == "namespace(auth=namespace(token=***))"
