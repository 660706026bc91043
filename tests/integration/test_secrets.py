"""Secrets appear in no file the package writes: errors and tracebacks, checkpoints' hparams, the command line.

The end-to-end tests grep every byte of every file of the run folder, the raw bytes of each ``.ckpt`` and the
checkpoint as ``torch.load(weights_only=False)`` gives it back.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import secrets
import sys
from pathlib import Path
from typing import Any, NamedTuple

import lightning.pytorch as pl
import pydantic
import pytest
import torch
import yaml
from conftest import ScriptedClassifier, TinyData, _dataset, make_trainer
from lightning.pytorch.utilities.parsing import AttributeDict
from omegaconf import DictConfig, OmegaConf
from torch.utils.data import DataLoader

from arccnet_ckpt import ArcCheckpointCallback
from arccnet_ckpt.capture.jsonsafe import snapshot
from arccnet_ckpt.capture.redact import (
    REDACTED,
    Redaction,
    exposed_secrets,
    is_secret_key,
    redact_argv,
    redact_in_place_of,
    redact_text,
    redacted_yaml,
)
from arccnet_ckpt.cli import main
from arccnet_ckpt.core.records import error_info

# ------------------------------------------------------------------------------------------------- key names

HIDDEN_NAMES = [
    "authorization",
    "Authorization",
    "proxy_authorization",
    "auth",
    "http_auth",
    "basicAuth",
    "bearer",
    "bearer_token",
    "pw",
    "db_pw",
    "PW",
    "passwd",
    "DB_PASSWD",
    "pwd",
    "Pwd",
    "smtp_pwd",
    "accountkey",
    "AccountKey",
    "storage_account_key",
    "webhook",
    "slack_webhook_url",
    "WEBHOOK_URL",
    "webhooks",
    "jwt",
    "JWT",
    "jwt_secret",
    "Password",
    "SharedAccessKey",
    "SharedAccessSignature",
    "sig",
    "key",
    "KEY",
    "X-Amz-Signature",
    "passphrase",
    "api_key",
    "WANDB_API_KEY",
    "access_token",
    "pass",
    "SMTP_PASS",
    "db_pass",
]

VISIBLE_NAMES = [
    "author",
    "authors",
    "authority",
    "auth_type",
    "auth_enabled",
    "oauth_provider",
    "max_tokens",
    "tokenizer",
    "num_workers",
    "keypoints",
    "keypoint_names",
    "key_frames",
    "preds_key",
    "sort_key",
    "monkey",
    "auto",
    "autoencoder",
    "pw_conv",
    "pwd_dir",
    "signature_dim",
    "sigma",
    "sig_level",
    "passthrough",
    "keyboard",
    "learning_rate",
    "bypass",
    "passes",
    "num_passes",
    "pass_through",
    "passport",
    "compass",
]


@pytest.mark.parametrize("name", HIDDEN_NAMES)
def test_a_secret_name_is_hidden(name: str) -> None:
    assert is_secret_key(name), name
    assert redact_text(f"{name}=s3cr3t-value") == f"{name}=***"
    assert redact_argv(["train.py", f"--{name}", "s3cr3t-value"]) == ["train.py", f"--{name}", "***"]


@pytest.mark.parametrize("name", VISIBLE_NAMES)
def test_a_name_that_only_looks_like_a_secret_stays_visible(name: str) -> None:
    assert not is_secret_key(name), name
    assert redact_text(f"{name}=value-12") == f"{name}=value-12"
    assert redact_argv(["train.py", f"--{name}", "value-12"]) == ["train.py", f"--{name}", "value-12"]


# ---------------------------------------------------------------------------------------------- text patterns


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("connect failed: postgres://u:SEKRET@h/db", "connect failed: postgres://u:***@h/db"),
        ("mongodb+srv://admin:SEKRET@cluster0.x.net/db", "mongodb+srv://admin:***@cluster0.x.net/db"),
        ("redis://:SEKRET@cache:6379/0", "redis://:***@cache:6379/0"),
        ("amqp://guest:SE@KRET@rabbit/vhost", "amqp://guest:***@rabbit/vhost"),  # an @ inside the password
        ("key=SEKRET in the message", "key=*** in the message"),
        ("https://maps.example.com/api?key=SEKRET&lang=en", "https://maps.example.com/api?key=***&lang=en"),
        ("Authorization: Bearer eyJhbGciOi.eyJzdWIi.SflKxw", "Authorization: Bearer ***"),
        ("headers={'Authorization': 'Bearer abc'}", "headers={'Authorization': '***'}"),
        ("Server=db;Database=x;User Id=sa;Password=SEKRET;", "Server=db;Database=x;User Id=sa;Password=***;"),
        ("DRIVER={ODBC};SERVER=h;UID=sa;Pwd=SEKRET;", "DRIVER={ODBC};SERVER=h;UID=sa;Pwd=***;"),
        (
            "Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=Root;SharedAccessKey=SEKRET+/x=",
            "Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=***;SharedAccessKey=***",
        ),
        (
            "DefaultEndpointsProtocol=https;AccountName=acc;AccountKey=SEKRET+/ab==;EndpointSuffix=core.windows.net",
            "DefaultEndpointsProtocol=https;AccountName=acc;AccountKey=***;EndpointSuffix=core.windows.net",
        ),
        (
            "https://acc.blob.core.windows.net/c/f?sv=2022-11-02&se=2030&sig=SEKRET%2Bx%3D",
            "https://acc.blob.core.windows.net/c/f?sv=2022-11-02&se=2030&sig=***",
        ),
        (
            "hook https://hooks.slack.com/x webhook_url=https://hooks.x/T0",
            "hook https://hooks.slack.com/x webhook_url=***",
        ),
        ('{"api_key": "SEKRET", "lr": 0.1}', '{"api_key": "***", "lr": 0.1}'),
        ("{'password': 'SEKRET', 'epochs': 3}", "{'password': '***', 'epochs': 3}"),
        ('{"pin_password": 123456}', '{"pin_password": ***}'),
        ("401 with Authorization: token SEKRET", "401 with Authorization: ***"),
        ("request:\nX-Api-Key: SEKRET\nAccept: json", "request:\nX-Api-Key: ***\nAccept: json"),
        ("db:\n  host: h\n  password: SEKRET\n", "db:\n  host: h\n  password: ***\n"),
        ("{password: SEKRET, lr: 0.1}", "{password: ***, lr: 0.1}"),
        ("SMTP_PASS=SEKRET", "SMTP_PASS=***"),
    ],
)
def test_credentials_inside_text_are_hidden(text: str, expected: str) -> None:
    assert redact_text(text) == expected
    assert "SEKRET" not in redact_text(text)


@pytest.mark.parametrize(
    "text",
    [
        "token=${oc.env:TRACKER_TOKEN}",  # an interpolation: the value is not here
        '{"api_key": null, "token": "", "password": "???"}',  # unset
        "{'use_auth': True, 'webhook': false}",  # a bool is a setting, not a secret
        "namespace(auth=namespace(token=***))",  # already hidden
        "see https://host/x, author=me, max_tokens=512, {'author': 'Ada'}",
        "host:6379 at 12:30, author: Ada, auth_type: basic, use_auth: true, num_passes: 3, bypass: yes",
    ],
)
def test_text_without_a_secret_is_left_as_it_is(text: str) -> None:
    assert redact_text(text) == text


# ------------------------------------------------------------------------------------------------ command line


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["-p", "SEKRET"], ["-p", "***"]),
        (["-p=SEKRET"], ["-p=***"]),
        (["--password", "SEKRET"], ["--password", "***"]),
        (["--passwd=SEKRET"], ["--passwd=***"]),
        (["--pw", "SEKRET"], ["--pw", "***"]),
        (["-u", "alice:SEKRET"], ["-u", "alice:***"]),
        (["--user", "alice:SEKRET"], ["--user", "alice:***"]),
        (["--user=alice:SEKRET"], ["--user=alice:***"]),
        (["-u", "alice"], ["-u", "alice"]),  # no password given: nothing to hide
        (["--model", '{"api_key": "SEKRET", "lr": 0.1}'], ["--model", '{"api_key": "***", "lr": 0.1}']),
        (
            ["--config", '{"model": {"init_args": {"wandb": {"token": "SEKRET"}}}}'],
            ["--config", '{"model": {"init_args": {"wandb": {"token": "***"}}}}'],
        ),
        (["--model={'password': 'SEKRET'}"], ['--model={"password": "***"}']),  # a dict's repr, parsed as YAML
        (["--data", "{db: {password: SEKRET}}"], ["--data", '{"db": {"password": "***"}}']),  # YAML flow
        (["--model", '{"credentials": {"user": "u", "pass": "SEKRET"}}'], ["--model", '{"credentials": "***"}']),
        (["--model", '{"lr": 0.1, "layers": [1, 2]}'], ["--model", '{"lr": 0.1, "layers": [1, 2]}']),  # as typed
        (["--db", "postgres://u:SEKRET@h/db"], ["--db", "postgres://u:***@h/db"]),
        (["-pSEKRET"], ["-p***"]),  # attached, as mysql and sshpass take it
        (["-ualice:SEKRET"], ["-ualice:***"]),
        (["--pass", "SEKRET"], ["--pass", "***"]),
        (["--model", "api_key: SEKRET"], ["--model", "api_key: ***"]),  # one line of block YAML keeps its form
        (["--model", "db:\n  host: h\n  password: SEKRET\n"], ["--model", '{"db": {"host": "h", "password": "***"}}']),
        (["--model=credentials:\n  user: u\n  key: SEKRET"], ['--model={"credentials": "***"}']),
        (["-H", "Authorization: token SEKRET"], ["-H", "Authorization: ***"]),
        (["-H", "X-Api-Key: SEKRET"], ["-H", "X-Api-Key: ***"]),
        (["--header=Authorization: Bearer SEKRET"], ["--header=Authorization: Bearer ***"]),
        (["--model", "lr: 0.1\nlayers: 2"], ["--model", "lr: 0.1\nlayers: 2"]),  # no secret: as typed
    ],
)
def test_the_recorded_command_line_hides_secrets(argv: list[str], expected: list[str]) -> None:
    assert redact_argv(["train.py", *argv]) == ["train.py", *expected]


# ---------------------------------------------------------------------------------------------------- errors


def test_an_error_record_hides_known_values_and_patterns_and_leaves_the_exception_alone() -> None:
    redaction = Redaction(frozenset({"known-secret-value"}))
    message = "connect failed: postgres://u:pw-1@h/db api_key=pw-2 with known-secret-value"
    try:
        raise RuntimeError(message)
    except RuntimeError as e:
        error = e
    info = error_info(error, redaction)
    assert info["type"] == "RuntimeError"
    assert info["message"] == "connect failed: postgres://u:***@h/db api_key=*** with ***"
    assert info["traceback"].endswith("RuntimeError: connect failed: postgres://u:***@h/db api_key=*** with ***\n")
    assert str(error) == message  # the exception itself is not touched
    assert error_info(error)["message"] == "connect failed: postgres://u:***@h/db api_key=*** with known-secret-value"


# -------------------------------------------------------------------------------------- hparams kept as types


class Point(NamedTuple):
    x: int
    token: str


@dataclasses.dataclass(frozen=True)
class DbSettings:
    host: str
    password: str


class Tracker(pydantic.BaseModel):
    project: str
    api_key: str


def test_redacting_hparams_keeps_their_types_and_never_changes_the_original() -> None:
    nested = {"token": "SEKRET-1", "lr": 0.1}
    hparams = AttributeDict(
        {
            "api_key": "SEKRET-2",
            "use_auth": True,
            "password": None,
            "nested": nested,
            "items": [("a", "postgres://u:SEKRET-3@h/db")],
            "point": Point(1, "SEKRET-4"),
            "namespace": argparse.Namespace(secret="SEKRET-5", n=3),  # noqa: S106
            "db": DbSettings("h", "SEKRET-6"),
            "tracker": Tracker(project="p", api_key="SEKRET-7"),
            "untouched": {"lr": 0.1},
            "header": "x-known-value-9",
        }
    )
    out = redact_in_place_of(hparams, Redaction(frozenset({"known-value-9"})))
    assert type(out) is AttributeDict
    assert out["api_key"] == REDACTED
    assert out["use_auth"] is True
    assert out["password"] is None
    assert out["nested"] == {"token": REDACTED, "lr": 0.1}
    assert out["items"] == [("a", "postgres://u:***@h/db")]
    assert out["point"] == Point(1, REDACTED)
    assert type(out["point"]) is Point
    assert vars(out["namespace"]) == {"secret": REDACTED, "n": 3}
    assert out["db"] == DbSettings("h", REDACTED)
    assert out["tracker"] == Tracker(project="p", api_key=REDACTED)
    assert out["untouched"] is hparams["untouched"]  # nothing to hide: the same object
    assert out["header"] == "x-***"
    assert hparams["api_key"] == "SEKRET-2"  # the original stays
    assert nested["token"] == "SEKRET-1"  # noqa: S105
    assert "SEKRET" not in repr(out)


def test_redacting_an_omegaconf_hparams_gives_a_new_config() -> None:
    config = OmegaConf.create({"wandb": {"api_key": "SEKRET"}, "env": "${oc.env:SOME_TOKEN,x}", "lr": 0.1})
    out = redact_in_place_of(config)
    assert isinstance(out, DictConfig)
    assert OmegaConf.to_container(out, resolve=False) == {
        "wandb": {"api_key": REDACTED},
        "env": "${oc.env:SOME_TOKEN,x}",
        "lr": 0.1,
    }
    assert config.wandb.api_key == "SEKRET"  # noqa: S105 - the module's own hparams are not changed


def test_exposed_secrets_names_where_a_secret_is_and_never_its_value() -> None:
    data = {"api_key": "v1", "lr": 0.1, "db": {"url": "postgres://u:v2@h/db", "password": REDACTED}, "l": [{"pw": 3}]}
    assert exposed_secrets(data, "hyper_parameters") == [
        "hyper_parameters.api_key",
        "hyper_parameters.db.url",
        "hyper_parameters.l[0].pw",
    ]
    assert exposed_secrets({"api_key": REDACTED, "token": None, "use_auth": True}, "h") == []


# ---------------------------------------------------------------------------------------------- YAML copies


def test_a_yaml_copy_hides_a_value_by_the_same_rule_as_config_json() -> None:
    """A flag named like a secret (``use_auth: true``), OmegaConf's missing ``???`` and an unresolved
    ``${oc.env:...}`` hold no secret: ``config.json`` keeps them, and the copy of the YAML file stays byte for byte."""
    text = "use_auth: true\napi_key: ${oc.env:WANDB_API_KEY}\ntoken: ???\nmodel: {lr: 0.1}\n"
    assert snapshot(yaml.safe_load(text)).value == yaml.safe_load(text)
    assert redacted_yaml(text) == (text, False)
    copy, redacted = redacted_yaml("use_auth: true\napi_key: abc123\n")
    assert redacted
    assert yaml.safe_load(copy) == {"use_auth": True, "api_key": REDACTED}


# ---------------------------------------------------------------------------------------------- end to end


class PasswordData(pl.LightningDataModule):
    """A datamodule whose hparams hold a database password, as a user's would."""

    def __init__(self, db_url: str, password: str, batch_size: int = 8) -> None:
        super().__init__()
        self.save_hyperparameters()

    def train_dataloader(self) -> DataLoader:
        return DataLoader(_dataset(32, 3, 0), batch_size=self.hparams.batch_size)

    def val_dataloader(self) -> DataLoader:
        return DataLoader(_dataset(16, 3, 1), batch_size=self.hparams.batch_size)

    def test_dataloader(self) -> DataLoader:
        return DataLoader(_dataset(24, 3, 2), batch_size=self.hparams.batch_size)


def password_data(password: str) -> PasswordData:
    return PasswordData(db_url=f"postgresql://reader:{password}@db.cluster/flares", password=password)


class ConnectingClassifier(ScriptedClassifier):  # type: ignore[misc,valid-type]
    """Fails its second epoch the way a user's does: an error message that quotes the connection it tried."""

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        if self.current_epoch == 1:
            raise RuntimeError(
                f"connect failed: postgres://u:{self.hparams.db_password}@h/db api_key={self.hparams.api_key} "
                f"(wandb key {self.hparams.wandb_key})"
            )
        return super().training_step(batch, batch_idx)


def _strings(value: Any, depth: int = 0) -> list[str]:
    """Every string (and dict key) inside a loaded checkpoint, objects' attributes included."""
    if depth > 50:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (*_strings(k, depth + 1), *_strings(v, depth + 1))]
    if isinstance(value, (list, tuple, set)):
        return [s for v in value for s in _strings(v, depth + 1)]
    if hasattr(value, "__dict__") and not isinstance(value, torch.Tensor):
        return _strings(vars(value), depth + 1)
    return [repr(value)] if not isinstance(value, torch.Tensor) else []


def _assert_nowhere(run_dir: Path, values: list[str]) -> None:
    files = [p for p in run_dir.rglob("*") if p.is_file()]
    assert any(p.suffix == ".ckpt" for p in files), files
    for path in files:
        data = path.read_bytes()
        for value in values:
            assert value.encode() not in data, f"{value!r} in {path.name}"
        if path.suffix == ".ckpt":
            loaded = "\n".join(_strings(torch.load(path, map_location="cpu", weights_only=False)))
            for value in values:
                assert value not in loaded, f"{value!r} in the loaded {path.name}"


def test_a_failed_fit_writes_no_secret_from_its_error_anywhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db_password, api_key, wandb_key = (f"sk-{secrets.token_hex(8)}" for _ in range(3))
    monkeypatch.setattr(sys, "argv", ["train.py", "--model", json.dumps({"wandb_key": wandb_key})])
    config = {"WANDB_API_KEY": wandb_key, "MODEL_NAME": "resnet18"}
    cb = ArcCheckpointCallback(root_name="secrets/errors", data_folder=tmp_path / "data", config=config)
    model = ConnectingClassifier(db_password=db_password, api_key=api_key, wandb_key=wandb_key)
    expected = f"connect failed: postgres://u:{db_password}@h/db api_key={api_key} (wandb key {wandb_key})"

    with pytest.raises(RuntimeError) as raised:
        make_trainer(tmp_path, [cb]).fit(model, datamodule=password_data(db_password))

    assert str(raised.value) == expected  # the caller gets the exception as it was raised
    run_dir = Path(cb.run_dir or "")
    summary = json.loads((run_dir / "training_summary.json").read_text())
    assert summary["status"] == "failed"
    assert summary["error"]["message"] == "connect failed: postgres://u:***@h/db api_key=*** (wandb key ***)"
    assert "RuntimeError: connect failed: postgres://u:***@h/db" in summary["error"]["traceback"]
    _assert_nowhere(run_dir, [db_password, api_key, wandb_key])


def test_a_checkpoint_hides_the_hparams_secrets_and_still_loads(tmp_path: Path) -> None:
    api_key, password = f"sk-{secrets.token_hex(8)}", f"pw-{secrets.token_hex(8)}"
    cb = ArcCheckpointCallback(root_name="secrets/ckpt", data_folder=tmp_path / "data", save_last=True)
    model = ScriptedClassifier(api_key=api_key, header=f"Bearer {api_key}")
    make_trainer(tmp_path, [cb], max_epochs=2).fit(model, datamodule=password_data(password))

    run_dir = Path(cb.run_dir or "")
    _assert_nowhere(run_dir, [api_key, password])
    assert model.hparams.api_key == api_key  # the module's own hparams are not changed
    best = Path(cb.best_model_path)
    checkpoint = torch.load(best, map_location="cpu", weights_only=False)
    assert checkpoint["hyper_parameters"]["api_key"] == REDACTED
    assert checkpoint["hyper_parameters"]["header"] == "Bearer ***"
    assert checkpoint["datamodule_hyper_parameters"]["password"] == REDACTED
    assert checkpoint["datamodule_hyper_parameters"]["db_url"] == "postgresql://reader:***@db.cluster/flares"

    loaded = ScriptedClassifier.load_from_checkpoint(best)
    assert loaded.hparams.api_key == REDACTED
    assert torch.equal(loaded.layer.weight, torch.load(best, weights_only=False)["state_dict"]["layer.weight"])
    assert ScriptedClassifier.load_from_checkpoint(best, api_key=api_key).hparams.api_key == api_key
    assert PasswordData.load_from_checkpoint(best).hparams.password == REDACTED


def test_verify_load_reports_a_checkpoint_that_holds_a_secret(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    api_key = f"sk-{secrets.token_hex(8)}"
    data = tmp_path / "data"
    kept = ArcCheckpointCallback(root_name="secrets/kept", data_folder=data, redact_checkpoint_hparams=False)
    make_trainer(tmp_path, [kept], max_epochs=1).fit(ScriptedClassifier(api_key=api_key), datamodule=TinyData())
    hidden = ArcCheckpointCallback(root_name="secrets/hidden", data_folder=data)
    make_trainer(tmp_path, [hidden], max_epochs=1).fit(ScriptedClassifier(api_key=api_key), datamodule=TinyData())
    assert api_key.encode() in Path(kept.best_model_path).read_bytes()  # the option keeps Lightning's hparams

    capsys.readouterr()
    code = main(["verify", str(kept.run_dir), "--load"])
    out, _ = capsys.readouterr()
    assert code == 1
    assert "holds a secret that is not redacted at hyper_parameters.api_key" in out
    assert api_key not in out  # the problem names the place, never the value
    assert main(["verify", str(kept.run_dir)]) == 0  # without --load the checkpoint is not read
    capsys.readouterr()
    assert main(["verify", str(hidden.run_dir), "--load"]) == 0, capsys.readouterr().out


def test_the_recorded_command_line_hides_inline_json_and_password_options(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    inline, password, curl = (f"v-{secrets.token_hex(8)}" for _ in range(3))
    argv = ["train.py", "--model", json.dumps({"api_key": inline, "lr": 0.1}), "-p", password, "-u", f"ada:{curl}"]
    monkeypatch.setattr(sys, "argv", argv)
    cb = ArcCheckpointCallback(root_name="secrets/argv", data_folder=tmp_path / "data")
    make_trainer(tmp_path, [cb], max_epochs=1).fit(ScriptedClassifier(), datamodule=TinyData())

    run_dir = Path(cb.run_dir or "")
    recorded = json.loads((run_dir / "config.json").read_text())["_arccnet"]["environment"]["argv"]
    assert recorded == ["train.py", "--model", '{"api_key": "***", "lr": 0.1}', "-p", "***", "-u", "ada:***"]
    _assert_nowhere(run_dir, [inline, password, curl])


def test_redact_checkpoint_hparams_must_be_a_bool(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"redact_checkpoint_hparams must be True .* or False .*, got 'yes'"):
        ArcCheckpointCallback(root_name="x", data_folder=tmp_path, redact_checkpoint_hparams="yes")  # type: ignore[arg-type]
