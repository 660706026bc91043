"""Turn Trainer, LightningModule, config and EarlyStopping state into JSON-safe data for the artifact models.

Everything here is a plain function, testable without a Trainer, and nothing here raises into a training run:
callers wrap each capture so a strange object costs a warning, never an epoch.
"""

from __future__ import annotations

import argparse
import dataclasses
import enum
import json
import math
import os
import platform
import re
import socket
import subprocess
import sys
import types
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import date, datetime, timezone
from pathlib import PurePath
from typing import Any, NamedTuple

from arccnet_ckpt.errors import ArcCkptWarning

REDACTED = "***"
"""What a secret value is replaced with."""

MAX_LIST_ITEMS = 10_000
"""Tensors or arrays with more elements are written as a short description instead of a list."""

_MAX_DEPTH = 40
_MAX_REPR = 500
_SECRET_WORDS = frozenset(
    {
        "token",
        "secret",
        "password",
        "passwd",
        "passphrase",
        "credential",
        "credentials",
        "apikey",
        "accountkey",
        "authorization",
        "bearer",
        "jwt",
        "webhook",
        "webhooks",
    }
)
# Words that name a secret only as a key's last word: `db_pw`, `Pwd=`, `http_auth`, `X-Amz-Signature` are secrets;
# `SMTP_PASS`, `--pass` are secrets too; `pw_conv` (pointwise), `pwd_dir`, `auth_type`, `signature_dim`, `pass_through`
# are not, and neither are `bypass` or `num_passes` (other words).
_SECRET_LAST_WORDS = frozenset({"pw", "pwd", "pass", "auth", "signature"})
# Names that are a secret only as the whole key: `?key=...` (an API key in a URL), `sig=` (an Azure SAS signature);
# `preds_key`, `sort_key`, `sig_level` are not.
_SECRET_NAMES = frozenset({"key", "sig"})
_SECRET_PAIRS = frozenset(
    {("api", "key"), ("private", "key"), ("access", "key"), ("secret", "key"), ("account", "key")}
)
# `scheme://user:password@host`; the password runs to the last `@` before the host (`u:p@ss@h` hides `p@ss`).
_URL_CREDENTIALS = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<user>[^/\s:@]*):(?P<password>[^/\s]+)@")
# `key=value`; a value's trailing `=` (base64 padding of an `AccountKey=`) is part of it.
_ASSIGNMENT = re.compile(
    r"(?<![\w.\-])(?P<key>[A-Za-z_][\w.\-]*)=(?P<value>\"[^\"]*\"|'[^']*'|(?:[^,\s&;()=\]}'\"]+=*)?)"
)
# `"api_key": "x"` and `'token': 'x'` (JSON, a Python dict's repr): the value of a quoted secret-named key.
_QUOTED_PAIR = re.compile(
    r"(?P<head>(?P<q>[\"'])(?P<key>[^\"'\s:]+)(?P=q)\s*:\s*)"
    r"(?P<value>\"(?:[^\"\\]|\\.)*\"|'(?:[^'\\]|\\.)*'|[^,\s{}\[\]\"']+)"
)
# `Authorization: token x`, `X-Api-Key: x` (an HTTP header), `api_key: x` (a line of YAML): a `Name: value` pair, with
# a space after the colon (so `host:port`, `user:pw` and URLs are not pairs); the value runs to the end of the line,
# or to a `,`, `}` or `]` of a flow mapping (`{password: x, lr: 1}`).
_HEADER = re.compile(r"(?<![\w.\-])(?P<head>(?P<key>[A-Za-z][\w.\-]*):[ \t]+)(?P<value>[^\r\n,}\]]*[^\s,}\]])")
# A line of block YAML (`api_key: x`, `db:`), for an argument holding a YAML document.
_YAML_LINE = re.compile(r"^[ \t]*[A-Za-z_][\w.\-]*:(?:[ \t]|$)", re.MULTILINE)
_BEARER = re.compile(r"\b(?P<scheme>[Bb]earer)\s+(?P<token>[A-Za-z0-9\-._~+/]+=*)")
_WORD_SPLIT = re.compile(r"[^A-Za-z0-9]+|(?<=[a-z0-9])(?=[A-Z])")
_UNSET_TEXTS = ("", "???", "null", "None", "none")
_BOOLEAN_TEXTS = ("true", "false", "True", "False")


def is_secret_key(key: object) -> bool:
    """Whether a mapping key names a secret (``api_key``, ``COMET_API_KEY``, ``token``, ``password``, ...).

    The key is split into words (``_``, ``-``, ``.``, spaces and camelCase boundaries) and compared without case:

    * a secret anywhere in the key: ``token``, ``secret``, ``password``, ``passwd``, ``passphrase``, ``credential(s)``,
      ``apikey``, ``accountkey``, ``authorization``, ``bearer``, ``jwt``, ``webhook(s)``, and the pairs ``api key``,
      ``private key``, ``access key``, ``secret key``, ``account key`` (Azure's ``AccountKey``);
    * a secret as the last word only: ``pw``, ``pwd``, ``pass``, ``auth``, ``signature`` (``db_pw``, ``SMTP_PASS``,
      ``http_auth``, but not ``pw_conv``, ``pwd_dir``, ``pass_through``, ``auth_type``);
    * a secret as the whole key only: ``key`` (``?key=...``), ``sig`` (an Azure SAS URL's signature).

    So ``access_token`` is a secret but ``max_tokens``, ``tokenizer``, ``author``, ``keypoints`` are not.
    """
    if not isinstance(key, str):
        return False
    words = [w.lower() for w in _WORD_SPLIT.split(key) if w]
    if not words:
        return False
    if any(w in _SECRET_WORDS for w in words) or words[-1] in _SECRET_LAST_WORDS:
        return True
    if len(words) == 1 and words[0] in _SECRET_NAMES:
        return True
    return any((a, b) in _SECRET_PAIRS for a, b in zip(words, words[1:], strict=False))


def redact_text(text: str) -> str:
    """Hide secrets inside a string: the password in ``scheme://user:password@host`` URLs, the token of
    ``Bearer <token>``, the value of a ``key=value`` assignment whose key names a secret (a Hydra override
    ``+db.password=x``, Hydra's ``override_dirname`` ``api_token=x,lr=0.1``, a URL query ``?token=x``, a connection
    string's ``Password=x;`` or ``AccountKey=x;``), the value of a quoted secret-named key (``"api_key": "x"`` in
    JSON, ``'token': 'x'`` in a dict's repr), and the value of a ``Name: value`` pair whose name is a secret
    (``Authorization: token x``, ``X-Api-Key: x``, a YAML line ``api_key: x``)."""
    if "@" in text:
        text = _URL_CREDENTIALS.sub(lambda m: f"{m['scheme']}{m['user']}:{REDACTED}@", text)
    if "earer" in text:
        text = _BEARER.sub(lambda m: f"{m['scheme']} {REDACTED}", text)
    if "=" in text:
        text = _ASSIGNMENT.sub(_hide_assignment, text)
    if ":" in text and ('"' in text or "'" in text):
        text = _QUOTED_PAIR.sub(_hide_quoted_pair, text)
    if ":" in text:
        text = _HEADER.sub(_hide_header, text)
    return text


def _hide_assignment(match: re.Match[str]) -> str:
    key, value = match["key"], match["value"]
    if not value or value.startswith("${") or match.string[match.end() : match.end() + 1] == "(":
        # Unset, an interpolation (its value is not here), or a call whose keywords are redacted one by one.
        return match[0]
    return f"{key}={REDACTED}" if is_secret_key(key.rsplit(".", 1)[-1]) else match[0]


def _hide_header(match: re.Match[str]) -> str:
    # `Authorization: Bearer ***` (the token already hidden by its pattern) keeps its scheme.
    return match[0] if REDACTED in match["value"] else _hide_quoted_pair(match)


def _hide_quoted_pair(match: re.Match[str]) -> str:
    value = match["value"]
    inner = value[1:-1] if value[:1] in ("'", '"') else value
    if inner in _UNSET_TEXTS or inner == REDACTED or inner.startswith("${") or value in _BOOLEAN_TEXTS:
        return match[0]
    if not is_secret_key(match["key"]):
        return match[0]
    quote = value[0] if value[0] in "\"'" else ""
    return f"{match['head']}{quote}{REDACTED}{quote}"


_PASSWORD_OPTIONS = frozenset({"-p"})
"""Options whose argument is a password even though their name does not say so (``mysql -p``, ``sshpass -p``), the
next one or attached (``-pX``); ``--password``, ``--passwd``, ``--pass`` and ``--pw`` are secret by their names."""
_USER_OPTIONS = frozenset({"-u", "--user"})
"""Options whose next argument may be ``user:password`` (``curl -u``): the user part is kept."""


def redact_argv(argv: Sequence[str]) -> list[str]:
    """Redact secrets in a command line.

    ``--api-key=X`` and ``--token X`` (an option named like a secret, see :func:`is_secret_key`); the argument of
    ``-p`` (``-p X``, ``-pX``); the password of ``-u user:pw`` / ``-uuser:pw`` / ``--user user:pw`` (``curl``'s
    form, the user kept); inline JSON or YAML (``--model '{"api_key": "..."}'``, a YAML document of several lines),
    whose values are hidden by key at any depth; and every pattern of :func:`redact_text` (credentials in URLs,
    ``key=value`` assignments, ``Name: value`` pairs such as ``api_key: X`` or ``Authorization: token X``).
    """
    out: list[str] = []
    hide_next = False
    user_next = False
    for arg in argv:
        if hide_next:
            out.append(REDACTED)
            hide_next = False
            continue
        if user_next:
            out.append(_hide_user_password(arg))
            user_next = False
            continue
        attached = arg[:2]
        if attached in _PASSWORD_OPTIONS and len(arg) > 2 and arg[2] != "=":  # `-pX`, as mysql and sshpass take it
            out.append(f"{attached}{REDACTED}")
            continue
        if attached in _USER_OPTIONS and len(arg) > 2 and arg[2] != "=":  # `-uuser:pw`
            out.append(f"{attached}{_hide_user_password(arg[2:])}")
            continue
        name, eq, value = arg.partition("=")
        if arg.startswith("-") and (name in _PASSWORD_OPTIONS or is_secret_key(name.lstrip("-").replace("-", "_"))):
            if eq:
                out.append(f"{name}={REDACTED}")
            else:
                out.append(arg)
                hide_next = True
            continue
        if arg.startswith("-") and name in _USER_OPTIONS:
            out.append(f"{name}={_hide_user_password(value)}" if eq else arg)
            user_next = not eq
            continue
        if eq and _is_inline_data(value):
            out.append(f"{name}={_redact_inline_data(value)}")
            continue
        out.append(_redact_inline_data(arg))
    return out


def _hide_user_password(arg: str) -> str:
    user, colon, password = arg.partition(":")
    return f"{user}:{REDACTED}" if colon and password and "//" not in arg else arg


def _is_inline_data(text: str) -> bool:
    """Whether a command-line argument is parsed as data: JSON or flow YAML (``{...}``, ``[...]``), or a block YAML
    document of several lines. One ``Name: value`` line is left to :func:`redact_text`, which keeps its form."""
    return text.lstrip()[:1] in ("{", "[") or ("\n" in text.strip() and _YAML_LINE.search(text) is not None)


def _redact_inline_data(text: str) -> str:
    """A command-line argument holding inline JSON or YAML data with its secret-keyed values hidden (rewritten as
    compact JSON when a value had to be hidden), any other argument through :func:`redact_text`."""
    if _is_inline_data(text):
        data: Any = None
        try:
            data = json.loads(text)
        except ValueError:
            try:
                import yaml

                data = yaml.safe_load(text)
            except Exception:  # not data after all: only the text patterns apply
                data = None
        if isinstance(data, (dict, list)):
            taken = snapshot(data)
            if taken.secrets:
                return json.dumps(taken.value, ensure_ascii=False)
    return redact_text(text)


def to_jsonable(value: Any) -> Any:
    """Make any value JSON-safe, redacting secrets; never raises.

    ``Path`` -> str, tuple/set -> list, tensor/numpy -> number or list, dtype/device -> str, enum -> member name,
    dataclass/pydantic/Namespace/OmegaConf -> dict, non-string keys -> str, non-finite floats -> ``None``, cycles ->
    ``"<cycle: TYPE>"``, and anything else -> ``repr``. Values under a secret-looking key become ``"***"`` (an unset
    one, ``None``, stays ``None``).

    Example:
        >>> to_jsonable({"lr": 1e-3, "api_key": "abc", 1: (1, 2)})
        {'lr': 0.001, 'api_key': '***', '1': [1, 2]}
    """
    return _convert(value, set(), 0, None, None)


class Snapshot(NamedTuple):
    """A value made JSON-safe (:func:`to_jsonable`), with what the conversion noticed."""

    value: Any
    unserializable: list[dict[str, str]]
    """Every value written as its ``repr``: ``{"path", "type", "repr"}``."""
    secrets: set[str]
    """The text of every value hidden as ``***`` (to hide it wherever else it appears, see :func:`mask_secrets`)."""


def snapshot(value: Any, prefix: str = "") -> Snapshot:
    """:func:`to_jsonable`, listing every value that could only be written as its ``repr``, and collecting the secrets
    it hid.

    Lightning's ``hparams.yaml`` drops values JSON cannot hold; here each one keeps its ``repr`` in place and is listed
    as ``{"path": "model.activation", "type": "torch.nn.modules.activation.ReLU", "repr": "ReLU()"}`` (list items
    as ``layers[2]``), so a reader knows the value was an object, not that string.

    Example:
        >>> snapshot({"act": object, "token": "abcd1234"}, prefix="hparams").unserializable[0]["path"]
        'hparams.act'
    """
    notes = _Notes([], set())
    converted = _convert(value, set(), 0, (None, prefix) if prefix else None, notes)
    return Snapshot(converted, notes.unserializable, notes.secrets)


@dataclasses.dataclass
class _Notes:
    unserializable: list[dict[str, str]]
    secrets: set[str]


MIN_MASKED_LENGTH = 4
"""A hidden value shorter than this is not searched for elsewhere (``"1"`` would mask every digit of a command)."""


def mask_secrets(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every occurrence of a known secret value replaced by ``***`` (the longest first).

    A secret hidden under its key in a config (``model.api_key``) can appear elsewhere in other forms: inside an
    inline JSON argument on the command line, a quoted or dict-valued Hydra override, Hydra's ``override_dirname``.
    """
    for secret in sorted({s for s in secrets if len(s) >= MIN_MASKED_LENGTH}, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text


@dataclasses.dataclass(frozen=True)
class Redaction:
    """Values known to be secret, hidden wherever they appear in what the package writes.

    ``secrets`` are values hidden under their key somewhere (written ``***`` everywhere else too); ``environment``
    maps the values of the environment variables a config reads (``${oc.env:NAME}``) to their names: they are
    written back as that interpolation, never as the value (a folder Hydra named after the overrides, a logger's
    folder inside it).
    """

    secrets: frozenset[str] = frozenset()
    environment: Mapping[str, str] = dataclasses.field(default_factory=dict)

    @staticmethod
    def union(redactions: Iterable[Redaction]) -> Redaction:
        """All the values of several redactions."""
        secrets: set[str] = set()
        environment: dict[str, str] = {}
        for redaction in redactions:
            secrets |= redaction.secrets
            environment.update(redaction.environment)
        return Redaction(frozenset(secrets), environment)

    def text(self, text: str) -> str:
        """``text`` with every known secret as ``***`` and every known environment value as ``${oc.env:NAME}``."""
        text = mask_secrets(text, self.secrets)
        for value in sorted(self.environment, key=len, reverse=True):
            if len(value) >= MIN_MASKED_LENGTH and value in text:
                text = text.replace(value, f"${{oc.env:{self.environment[value]}}}")
        return text

    def message(self, text: str) -> str:
        """Free text the package writes (an error's message and traceback, a warning kept in a record): every known
        value hidden (:meth:`text`), then every pattern of :func:`redact_text` (``user:pw@``, ``key=value``...)."""
        return redact_text(self.text(text))

    def tree(self, value: Any) -> Any:
        """:meth:`text` in every string of plain JSON data (dict keys left as they are)."""
        if not (self.secrets or self.environment):
            return value
        if isinstance(value, dict):
            return {k: self.tree(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.tree(v) for v in value]
        return self.text(value) if isinstance(value, str) else value


def redact_in_place_of(value: Any, redaction: Redaction | None = None) -> Any:
    """``value`` with its secrets hidden and its types kept, for data that is loaded back as it is (a checkpoint's
    ``hyper_parameters``, which ``load_from_checkpoint`` passes to ``__init__``).

    A secret-keyed value becomes ``***`` (see :func:`is_secret_key`; one holding no secret stays, see
    :func:`_keeps_secret`) and every string goes through :meth:`Redaction.message`, in dicts (their own class kept),
    lists, tuples, named tuples (their fields named like keys), ``argparse.Namespace``, dataclasses, pydantic models
    and OmegaConf configs. Anything else is left as it is. Nothing is changed in place: a container that holds a
    secret is copied, and one that holds none is returned itself.
    """
    return _kept(value, redaction or Redaction(), set(), 0)


def _kept(value: Any, redaction: Redaction, active: set[int], depth: int) -> Any:
    if isinstance(value, str):
        return redaction.message(value)
    if value is None or isinstance(value, (bool, int, float)) or depth > _MAX_DEPTH or id(value) in active:
        return value
    active.add(id(value))
    try:
        return _kept_container(value, redaction, active, depth)
    except Exception:  # a container that cannot be rebuilt stays as it is; verify --load reports what it holds
        return value
    finally:
        active.discard(id(value))


def _kept_container(value: Any, redaction: Redaction, active: set[int], depth: int) -> Any:
    def item(key: Any, v: Any) -> Any:
        if is_secret_key(key):
            return REDACTED if _keeps_secret(v) else v
        return _kept(v, redaction, active, depth + 1)

    if type(value).__module__.startswith("omegaconf"):
        from omegaconf import OmegaConf

        if not OmegaConf.is_config(value):
            return value
        raw = OmegaConf.to_container(value, resolve=False)
        clean = _kept(raw, redaction, active, depth)
        return value if clean == raw else OmegaConf.create(clean)
    if isinstance(value, dict):
        out = {k: item(k, v) for k, v in value.items()}
        if all(out[k] is v for k, v in value.items()):
            return value
        return out if type(value) is dict else type(value)(out)
    if isinstance(value, (list, tuple)) and not hasattr(value, "_fields"):
        items = [_kept(v, redaction, active, depth + 1) for v in value]
        if all(a is b for a, b in zip(items, value, strict=True)):
            return value
        if isinstance(value, list):
            return items if type(value) is list else type(value)(items)
        return type(value)(items)
    fields: dict[str, Any] | None = None
    if isinstance(value, tuple):  # a named tuple: its fields are named like keys
        fields = value._asdict()  # type: ignore[attr-defined]
    elif isinstance(value, argparse.Namespace):
        fields = vars(value)
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {f.name: getattr(value, f.name) for f in dataclasses.fields(value) if f.init}
    elif _is_pydantic_model(value):
        fields = {name: getattr(value, name) for name in type(value).model_fields}
    if fields is None:
        return value
    changed = {k: new for k, v in fields.items() if (new := item(k, v)) is not v}
    if not changed:
        return value
    if isinstance(value, tuple):
        return value._replace(**changed)  # type: ignore[attr-defined]
    if isinstance(value, argparse.Namespace):
        return argparse.Namespace(**{**fields, **changed})
    if _is_pydantic_model(value):
        return value.model_copy(update=changed)
    return dataclasses.replace(value, **changed)


def exposed_secrets(value: Any, prefix: str) -> list[str]:
    """The paths (``hyper_parameters.db.api_key``) in plain loaded data where a secret is written as it is: a
    secret-keyed value that holds one (see :func:`is_secret_key`), or a string with credentials in it (see
    :func:`redact_text`). The values themselves are never returned."""
    found: list[str] = []
    _find_exposed(value, prefix, found, 0)
    return found


def _find_exposed(value: Any, path: str, found: list[str], depth: int) -> None:
    if depth > _MAX_DEPTH:
        return
    container = value if isinstance(value, (Mapping, list, tuple)) else _as_container(value)
    if isinstance(container, Mapping):
        for key, item in container.items():
            where = f"{path}.{key}" if path else str(key)
            if is_secret_key(key) and _keeps_secret(item):
                found.append(where)
            else:
                _find_exposed(item, where, found, depth + 1)
    elif isinstance(container, (list, tuple)):
        for index, item in enumerate(container):
            _find_exposed(item, f"{path}[{index}]", found, depth + 1)
    elif isinstance(value, str) and redact_text(value) != value:
        found.append(path)


def env_references(raw: Any) -> dict[str, str]:
    """``{value: NAME}`` for every environment variable that is set and that ``raw`` (plain data, or text) reads
    through ``${oc.env:NAME}`` (or the older ``${env:NAME}``)."""
    text = raw if isinstance(raw, str) else json.dumps(raw, default=str)
    return {os.environ[name]: name for name in set(_ENV_INTERPOLATION.findall(text)) if os.environ.get(name)}


def _path(where: Any) -> str:
    """A value's place, kept as linked ``(parent, key)`` pairs while converting, as a dotted path (built only for a
    value that is listed, so converting a large tensor builds no strings)."""
    keys: list[str | int] = []
    while where is not None:
        where, key = where
        keys.append(key)
    text = ""
    for key in reversed(keys):
        text += f"[{key}]" if isinstance(key, int) else (f".{key}" if text else str(key))
    return text


def _note(notes: _Notes | None, where: Any, value: Any, written: Any) -> Any:
    if notes is not None:
        notes.unserializable.append({"path": _path(where), "type": class_path(value), "repr": str(written)})
    return written


def _keeps_secret(value: Any) -> bool:
    """Whether a secret-keyed value holds one. An unset one does not, and stays as it is so the record does not
    pretend a key was set: ``None``, ``""``, OmegaConf's missing ``???``, an interpolation left unresolved
    (``${oc.env:X}``), ``***`` itself; nor does a bool (``use_auth: true`` says a setting, not a secret)."""
    if value is None or isinstance(value, bool):
        return False
    return not (isinstance(value, str) and (value in ("", "???", REDACTED) or value.startswith("${")))


def _hide(value: Any, notes: _Notes | None) -> Any:
    """A secret-keyed value: ``***``, its text noted; a value that holds no secret stays (see :func:`_keeps_secret`)."""
    if not _keeps_secret(value):
        return value
    if notes is not None:
        _collect_text(value, notes.secrets, 0)
    return REDACTED


def _collect_text(value: Any, into: set[str], depth: int) -> None:
    if depth > _MAX_DEPTH:
        return
    container = _as_container(value) if not isinstance(value, (str, bytes)) else None
    if isinstance(container, Mapping):
        for item in container.values():
            _collect_text(item, into, depth + 1)
    elif isinstance(container, list):
        for item in container:
            _collect_text(item, into, depth + 1)
    elif isinstance(value, (str, int, float)) and not isinstance(value, bool):
        into.add(str(value))


def _convert(value: Any, active: set[int], depth: int, where: Any, notes: _Notes | None) -> Any:
    try:
        return _convert_unsafe(value, active, depth, where, notes)
    except Exception as e:  # capture must never raise: describe what could not be converted
        return _note(
            notes, where, value, f"<unserializable {type(value).__name__}: {type(e).__name__}: {e}>"[:_MAX_REPR]
        )


def _convert_unsafe(value: Any, active: set[int], depth: int, where: Any, notes: _Notes | None) -> Any:
    if value is None or isinstance(value, (bool, int)) and not isinstance(value, enum.Enum):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, enum.Enum):
        return value.name
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if depth > _MAX_DEPTH:
        return _note(notes, where, value, _short_repr(value))

    array_like = _array_to_python(value)
    if array_like is not _NOT_ARRAY:
        return _convert(array_like, active, depth + 1, where, notes)

    container = _as_container(value)
    if container is None:
        return _note(notes, where, value, _short_repr(value))
    if id(value) in active:
        return _note(notes, where, value, f"<cycle: {type(value).__name__}>")
    active.add(id(value))
    try:
        if isinstance(container, Mapping):
            out = {}
            for k, v in container.items():
                key = k if isinstance(k, str) else str(_convert(k, active, depth + 1, None, None))
                secret = is_secret_key(k)
                out[key] = _hide(v, notes) if secret else _convert(v, active, depth + 1, (where, key), notes)
            return out
        return [_convert(v, active, depth + 1, (where, i), notes) for i, v in enumerate(container)]
    finally:
        active.discard(id(value))


_NOT_ARRAY = object()


def _array_to_python(value: Any) -> Any:
    """Tensors, numpy arrays and scalars, torch dtypes/devices; ``_NOT_ARRAY`` for anything else."""
    module = type(value).__module__
    if not (module.startswith("torch") or module.startswith("numpy")):
        return _NOT_ARRAY
    if module.startswith("torch") and type(value).__name__ in ("dtype", "device", "Size"):
        return list(value) if type(value).__name__ == "Size" else str(value)
    if module.startswith("numpy") and type(value).__name__.startswith("dtype"):
        return str(value)
    numel = getattr(value, "numel", None) or getattr(value, "size", None)
    count = numel() if callable(numel) else numel
    if isinstance(count, int) and count > MAX_LIST_ITEMS:
        shape = tuple(getattr(value, "shape", ()))
        return f"<{type(value).__name__} shape={shape} dtype={getattr(value, 'dtype', '?')}>"
    if hasattr(value, "detach"):
        value = value.detach().cpu()
    if hasattr(value, "tolist"):
        return value.tolist()
    if hasattr(value, "item"):
        return value.item()
    return _NOT_ARRAY


def _as_container(value: Any) -> Mapping[Any, Any] | list[Any] | None:
    if type(value).__module__.startswith("omegaconf"):  # before Mapping: a DictConfig is one, and iterating it raises
        return omegaconf_plain(value)  # on a missing value or an interpolation that cannot be resolved
    if isinstance(value, Mapping):
        return value
    if isinstance(value, (list, tuple)):
        return list(value)
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=repr)
    if isinstance(value, argparse.Namespace):
        return vars(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    if _is_pydantic_model(value):
        return {name: getattr(value, name) for name in type(value).model_fields}
    return None


def _is_pydantic_model(value: Any) -> bool:
    return hasattr(type(value), "model_fields") and hasattr(value, "model_dump") and not isinstance(value, type)


_ENV_INTERPOLATION = re.compile(r"\$\{(?:oc\.env|env):\s*([A-Za-z_][A-Za-z0-9_]*)")


def omegaconf_plain(config: Any) -> Any:
    """An OmegaConf config as plain containers, its interpolations resolved one by one, never raising.

    * A missing value (``???``) stays ``"???"``; an interpolation that cannot be resolved (an unset environment
      variable) stays as written, and only that one: the others are still resolved.
    * A value taken from the environment (``${oc.env:NAME}``, also inside another interpolation) is written as that
      interpolation, not as the variable's value: the environment holds tokens, and a config record must not copy
      them into files.
    """
    from omegaconf import OmegaConf

    raw = OmegaConf.to_container(config, resolve=False)
    try:
        resolved = OmegaConf.to_container(config, resolve=True)
    except Exception:  # one interpolation fails: resolve the others one at a time
        resolved = _resolve_each(config, raw, "")
    if not _ENV_INTERPOLATION.search(json.dumps(raw, default=str)):
        return resolved
    environment = {v: n for v, n in env_references(raw).items() if len(v) >= MIN_MASKED_LENGTH}
    return _as_written(raw, resolved, environment)


def _resolve_each(config: Any, raw: Any, path: str) -> Any:
    from omegaconf import OmegaConf

    if isinstance(raw, dict):
        return {k: _resolve_each(config, v, f"{path}.{k}" if path else str(k)) for k, v in raw.items()}
    if isinstance(raw, list):
        return [_resolve_each(config, v, f"{path}[{i}]") for i, v in enumerate(raw)]
    if not (isinstance(raw, str) and "${" in raw):
        return raw
    try:
        value = OmegaConf.select(config, path, throw_on_resolution_failure=True, throw_on_missing=False)
    except Exception:
        return raw
    return OmegaConf.to_container(value, resolve=True) if OmegaConf.is_config(value) else value


def _as_written(raw: Any, resolved: Any, environment: Mapping[str, str]) -> Any:
    """``resolved``, with the environment's values taken back out of it.

    A value written with ``${oc.env:NAME}`` is kept as written (its default too). A value computed from other nodes
    (``Bearer ${token}``, where ``token`` comes from the environment) has each variable's value put back as
    ``${oc.env:NAME}``. A literal is never touched: ``paul_baseline`` stays, even where ``$USER`` is ``paul``.
    """
    if isinstance(raw, dict) and isinstance(resolved, dict):
        return {k: _as_written(raw.get(k), v, environment) for k, v in resolved.items()}
    if isinstance(raw, list) and isinstance(resolved, list) and len(raw) == len(resolved):
        return [_as_written(r, v, environment) for r, v in zip(raw, resolved, strict=True)]
    if not (isinstance(raw, str) and "${" in raw):
        return resolved  # a literal, or a container OmegaConf resolved into another shape
    if _ENV_INTERPOLATION.search(raw):
        return raw
    if isinstance(resolved, str):
        for text in sorted(environment, key=len, reverse=True):
            resolved = resolved.replace(text, f"${{oc.env:{environment[text]}}}")
    return resolved


def _short_repr(value: Any) -> str:
    text = repr(value)
    return redact_text(text if len(text) <= _MAX_REPR else text[: _MAX_REPR - 3] + "...")


def config_to_dict(config: Any) -> dict[str, Any]:
    """Snapshot a user config as a JSON-safe dict, whatever its kind.

    A module contributes its public variables: what ``vars(config)`` shows minus dunders and private names,
    imported modules, functions and classes. Mappings, dataclasses, pydantic models, ``argparse.Namespace`` and
    OmegaConf configs become dicts; any other object contributes its public attributes.

    Args:
        config: ``None``, a dict, a module, a dataclass, a pydantic model, a Namespace or an OmegaConf config.

    Returns:
        A JSON-safe dict with secrets redacted; ``{}`` for ``None``.
    """
    return config_snapshot(config)[0]


def config_snapshot(config: Any, prefix: str = "config") -> Snapshot:
    """:func:`config_to_dict` as a :class:`Snapshot`: with the values written as their ``repr`` (paths start with
    ``prefix``) and the secrets hidden.

    A config that is not a mapping at all (or whose reading fails as a whole) is kept as ``{"value": repr}`` with an
    :class:`~arccnet_ckpt.errors.ArcCkptWarning`: the run goes on, the record says what it got.
    """
    if config is None:
        return Snapshot({}, [], set())
    if isinstance(config, types.ModuleType):
        raw: Any = {
            k: v
            for k, v in vars(config).items()
            if not k.startswith("_")
            and not isinstance(v, (types.ModuleType, types.FunctionType, types.BuiltinFunctionType, type))
        }
    else:
        raw = _as_container(config)
        if raw is None:
            raw = {k: v for k, v in getattr(config, "__dict__", {}).items() if not k.startswith("_")}
            if not raw:
                raw = {"value": config}
    taken = snapshot(raw, prefix)
    if isinstance(taken.value, dict):
        return taken
    warnings.warn(
        f"ArcCheckpointCallback: the config ({class_path(config)}) could not be read as a mapping; config.json keeps "
        f"it as {{'value': {str(taken.value)[:120]!r}}}",
        ArcCkptWarning,
        stacklevel=3,
    )
    return Snapshot({"value": taken.value}, taken.unserializable, taken.secrets)


def class_path(obj: Any) -> str:
    """``module.QualName`` of an object's class (or of a class)."""
    cls = obj if isinstance(obj, type) else type(obj)
    return f"{cls.__module__}.{cls.__qualname__}"


def lookup(sources: Sequence[Mapping[str, Any] | None], keys: Sequence[str]) -> str | None:
    """The first non-empty string found under one of ``keys`` in the first source that has one."""
    for source in sources:
        if not source:
            continue
        for key in keys:
            value = source.get(key)
            if isinstance(value, str) and value.strip():
                return value
    return None


MODEL_NAME_CONFIG_KEYS = ("MODEL_NAME", "model_name")
MODEL_NAME_HPARAM_KEYS = ("model_name", "model", "backbone", "arch")
LOSS_KEYS = ("LOSS_FUNCTION", "LOSS_TYPE", "loss_function", "loss_type", "loss")
CLASS_NAME_KEYS = ("class_names", "CLASS_NAMES", "CLASSES")


def config_sections(config: Mapping[str, Any] | None, *, data: bool = False) -> list[Mapping[str, Any]]:
    """Where names are looked up in one config, in order: its top level, its ``model`` section and that section's
    ``init_args`` (LightningCLI's layout); with ``data``, then its ``data`` section and ``data.init_args``."""
    if not isinstance(config, Mapping):
        return []
    found: list[Mapping[str, Any]] = [config]
    for key in ("model", "data") if data else ("model",):
        section = config.get(key)
        if isinstance(section, Mapping):
            found.append(section)
            if isinstance(section.get("init_args"), Mapping):
                found.append(section["init_args"])
    return found


def infer_model_name(
    configs: Sequence[Mapping[str, Any] | None], hparams: Mapping[str, Any] | None, module: Any
) -> str:
    """Model name: each config in turn (``MODEL_NAME``/``model_name`` in :func:`config_sections`), else hparams
    ``model_name``/``model``/``backbone``/``arch``, else the LightningModule's class name.

    Args:
        configs: The configs in precedence order: the callback's ``config=``, Hydra's, LightningCLI's.
        hparams: The LightningModule's hparams.
        module: The LightningModule.
    """
    sections = [section for config in configs for section in config_sections(config)]
    return (
        lookup(sections, MODEL_NAME_CONFIG_KEYS)
        or lookup([hparams], MODEL_NAME_HPARAM_KEYS)
        or (type(module).__name__ if module is not None else "unknown")
    )


def infer_loss_function(
    configs: Sequence[Mapping[str, Any] | None], hparams: Mapping[str, Any] | None, module: Any
) -> str:
    """Loss name: each config in turn, then hparams (``LOSS_FUNCTION``, ``LOSS_TYPE``, ``loss_function``,
    ``loss_type``, ``loss``; strings only), else the class of the module's first ``torch.nn`` loss attribute, else
    ``"unknown"``."""
    sections = [section for config in configs for section in config_sections(config)]
    found = lookup([*sections, hparams], LOSS_KEYS)
    if found:
        return found
    if module is not None:
        from torch.nn.modules.loss import _Loss

        for _name, child in module.named_modules():
            if isinstance(child, _Loss):
                return type(child).__name__
    return "unknown"


def class_name_sources(
    configs: Mapping[str, Mapping[str, Any] | None], module: Any, datamodule: Any
) -> dict[str, list[str]]:
    """Every list of class names the run offers, in the order that decides which one names label *i*.

    The LightningModule's and the datamodule's ``class_names`` (an attribute, else an hparam) come first: they are
    the label encoder's order, which is what label *i* means. The configs' lists (``class_names``, ``CLASS_NAMES``,
    ``CLASSES`` in :func:`config_sections` with ``data``) come last, in the order given: configs often list the
    classes in a reading order (``['Quiet', 'C', 'M_X']``) that is not the encoder's.

    Args:
        configs: Named configs in precedence order, e.g. ``{"config": ..., "hydra": ..., "lightning_cli": ...}``.
        module: The LightningModule (or ``None``).
        datamodule: The LightningDataModule (or ``None``).

    Returns:
        ``{"module": [...], "datamodule": [...], "config": [...], ...}``, holding only the sources that have a list.
    """
    found: dict[str, list[str]] = {}
    for where, owner in (("module", module), ("datamodule", datamodule)):
        if owner is None:
            continue
        names = _as_name_list(getattr(owner, "class_names", None))
        if names is None:
            hparams = getattr(owner, "hparams", None)
            names = _first_name_list(hparams if isinstance(hparams, Mapping) else None)
        if names:
            found[where] = names
    for where, config in configs.items():
        names = next(filter(None, map(_first_name_list, config_sections(config, data=True))), None)
        if names:
            found[where] = names
    return found


def _first_name_list(source: Mapping[str, Any] | None) -> list[str] | None:
    for key in CLASS_NAME_KEYS:
        names = _as_name_list(source.get(key)) if source else None
        if names:
            return names
    return None


def _as_name_list(value: Any) -> list[str] | None:
    if isinstance(value, (list, tuple)) and value and not isinstance(value, str):
        return [str(v) for v in value]
    return None


def trainer_settings(trainer: Any) -> dict[str, Any]:
    """The Trainer settings listed in ``TrainerSettings``, read defensively."""
    accelerator = getattr(trainer, "accelerator", None)
    strategy = getattr(trainer, "strategy", None)
    fit_loop = getattr(trainer, "fit_loop", None)
    return to_jsonable(
        {
            "max_epochs": getattr(fit_loop, "max_epochs", None),
            "min_epochs": getattr(fit_loop, "min_epochs", None),
            "max_steps": getattr(trainer, "max_steps", None),
            "precision": str(getattr(trainer, "precision", None)),
            "accumulate_grad_batches": getattr(trainer, "accumulate_grad_batches", None),
            "gradient_clip_val": getattr(trainer, "gradient_clip_val", None),
            "check_val_every_n_epoch": getattr(trainer, "check_val_every_n_epoch", None),
            "val_check_interval": getattr(trainer, "val_check_interval", None),
            "accelerator": _short_name(accelerator, "Accelerator"),
            "strategy": getattr(strategy, "strategy_name", None) or _short_name(strategy, "Strategy"),
            "num_devices": getattr(trainer, "num_devices", None),
            "num_nodes": getattr(trainer, "num_nodes", None),
            "deterministic": _deterministic(),
        }
    )


def _deterministic() -> bool | str:
    """What ``Trainer(deterministic=...)`` turned on: Lightning sets torch's global switch when the Trainer is built
    (``True`` -> on, ``"warn"`` -> on with warnings only), so the switch is the setting, read through torch's API."""
    import torch

    if not torch.are_deterministic_algorithms_enabled():
        return False
    return "warn" if torch.is_deterministic_algorithms_warn_only_enabled() else True


def _short_name(obj: Any, suffix: str) -> str | None:
    if obj is None:
        return None
    name = type(obj).__name__
    return (name[: -len(suffix)] if name.endswith(suffix) and name != suffix else name).lower()


def optimizer_infos(trainer: Any) -> list[dict[str, Any]]:
    """Class, defaults and per-group hyperparameters of each optimizer."""
    infos = []
    for opt in getattr(trainer, "optimizers", []) or []:
        groups = [{k: v for k, v in g.items() if k != "params"} for g in getattr(opt, "param_groups", [])]
        infos.append(
            {
                "class_path": class_path(opt),
                "settings": to_jsonable({"defaults": getattr(opt, "defaults", {}), "param_groups": groups}),
            }
        )
    return infos


def scheduler_infos(trainer: Any) -> list[dict[str, Any]]:
    """Class and settings of each learning-rate scheduler."""
    infos = []
    for config in getattr(trainer, "lr_scheduler_configs", []) or []:
        scheduler = config.scheduler
        try:
            state = {k: v for k, v in scheduler.state_dict().items() if not k.startswith("_")}
        except Exception:
            state = {}
        settings = {
            "interval": config.interval,
            "frequency": config.frequency,
            "monitor": config.monitor,
            "name": config.name,
            "state": state,
        }
        infos.append({"class_path": class_path(scheduler), "settings": to_jsonable(settings)})
    return infos


_EARLY_STOPPING_SETTINGS = (
    "monitor",
    "mode",
    "patience",
    "strict",
    "check_finite",
    "stopping_threshold",
    "divergence_threshold",
    "verbose",
    "log_rank_zero_only",
)
_CHECKPOINT_SETTINGS = (
    "monitor",
    "mode",
    "save_top_k",
    "save_last",
    "save_weights_only",
    "filename",
    "every_n_epochs",
    "auto_insert_metric_name",
    "save_on_exception",
    "verbose",
)


def callback_infos(
    callbacks: Sequence[Any], early_stopping_cls: type[Any], checkpoint_cls: type[Any]
) -> list[dict[str, Any]]:
    """Class and settings of each callback; EarlyStopping and ModelCheckpoint list their documented arguments."""
    infos = []
    for cb in callbacks:
        settings: dict[str, Any]
        if isinstance(cb, early_stopping_cls):
            settings = {name: getattr(cb, name, None) for name in _EARLY_STOPPING_SETTINGS}
            settings["min_delta"] = abs(float(cb.min_delta))
        elif isinstance(cb, checkpoint_cls):
            settings = {name: getattr(cb, name, None) for name in _CHECKPOINT_SETTINGS}
        else:
            settings = {
                k: v
                for k, v in vars(cb).items()
                if not k.startswith("_") and (v is None or isinstance(v, (str, int, float, bool)))
            }
        infos.append({"class_path": class_path(cb), "settings": to_jsonable(settings)})
    return infos


def model_info(module: Any) -> dict[str, Any]:
    """Class path and total / trainable parameter counts (uninitialised lazy parameters count as 0)."""
    total = trainable = 0
    for p in module.parameters():
        try:
            n = int(p.numel())
        except (ValueError, RuntimeError):
            continue
        total += n
        trainable += n if p.requires_grad else 0
    return {"class_path": class_path(module), "total_parameters": total, "trainable_parameters": trainable}


def environment_info(lightning_version: str | None) -> dict[str, Any]:
    """Python, platform, host, library versions, CUDA and the (redacted) command line."""
    import pydantic
    import torch

    cuda = None
    gpus: list[str] = []
    if torch.cuda.is_available():
        cuda = torch.version.cuda
        gpus = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    info: dict[str, Any] = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "hostname": socket.gethostname(),
        "torch": torch.__version__,
        "lightning": lightning_version,
        "pydantic": pydantic.VERSION,
        "cuda": cuda,
        "argv": redact_argv(sys.argv),
    }
    if gpus:
        info["gpus"] = gpus
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        info["cuda_visible_devices"] = visible
    job = cluster_job(os.environ)
    if job:
        info["job"] = job
    return info


_SLURM = {
    "job_id": "SLURM_JOB_ID",
    "array_job_id": "SLURM_ARRAY_JOB_ID",
    "array_task_id": "SLURM_ARRAY_TASK_ID",
    "job_name": "SLURM_JOB_NAME",
    "partition": "SLURM_JOB_PARTITION",
    "node_list": "SLURM_JOB_NODELIST",
    "restart_count": "SLURM_RESTART_COUNT",
}
_TORCHELASTIC = {
    "run_id": "TORCHELASTIC_RUN_ID",
    "restart_count": "TORCHELASTIC_RESTART_COUNT",
    "max_restarts": "TORCHELASTIC_MAX_RESTARTS",
}


def cluster_job(environ: Mapping[str, str]) -> dict[str, Any]:
    """The scheduler's identity of this process: SLURM (job, array job and task, name, partition, node list, restart
    count) and TorchElastic (run id, restart count, max restarts); only what the environment holds."""
    job: dict[str, Any] = {}
    for scheduler, names in (("slurm", _SLURM), ("torchelastic", _TORCHELASTIC)):
        found = {key: _env_value(environ[var]) for key, var in names.items() if environ.get(var)}
        if scheduler == "slurm" and "node_list" not in found and environ.get("SLURM_NODELIST"):
            found["node_list"] = environ["SLURM_NODELIST"]  # older SLURM
        if found:
            job[scheduler] = found
    return job


def restart_count(environ: Mapping[str, str] | None = None) -> int | None:
    """How many times the scheduler restarted this job (SLURM requeue, TorchElastic restart); ``None`` outside one."""
    environ = os.environ if environ is None else environ
    for var in ("SLURM_RESTART_COUNT", "TORCHELASTIC_RESTART_COUNT"):
        value = _env_value(environ.get(var, ""))
        if isinstance(value, int):
            return value
    return None


def _env_value(text: str) -> int | str:
    return int(text) if text.strip().isdigit() else text


GIT_SOURCES = ("script", "module", "cwd")
"""Where :func:`git_info` looks for the repository, in order: the running script (``__main__``'s file), the
LightningModule's source file, the working directory."""


def git_info(module: Any = None) -> dict[str, Any] | None:
    """Commit, branch and dirty flag of the repository the run's code came from; ``None`` outside one (or without
    git).

    The repository is the one holding the running script (``__main__``'s file: ``cd $SCRATCH && python
    ~/flares/train.py`` finds ``~/flares``), else the one holding ``module``'s class (a script run from a package, a
    notebook), else the one around the working directory. ``source`` says which (:data:`GIT_SOURCES`) and ``root``
    is the repository's top folder.
    """
    for source, folder in _git_candidates(module):
        root = _git(folder, "rev-parse", "--show-toplevel")
        commit = _git(folder, "rev-parse", "HEAD") if root else None
        if root is None or commit is None:
            continue
        branch = _git(root, "rev-parse", "--abbrev-ref", "HEAD")
        status = _git(root, "status", "--porcelain", "--untracked-files=no")
        dirty = None if status is None else bool(status)
        return {"commit": commit, "branch": branch, "dirty": dirty, "source": source, "root": root}
    return None


def _git_candidates(module: Any) -> list[tuple[str, str]]:
    """``(source, folder)`` for the script, the module's class and the working directory, in that order."""
    out: list[tuple[str, str]] = []
    script = getattr(sys.modules.get("__main__"), "__file__", None)
    if isinstance(script, str) and os.path.isfile(script):
        out.append(("script", os.path.dirname(os.path.abspath(script))))
    if module is not None:
        defined_in = getattr(sys.modules.get(type(module).__module__), "__file__", None)
        if isinstance(defined_in, str) and os.path.isfile(defined_in):
            out.append(("module", os.path.dirname(os.path.abspath(defined_in))))
    out.append(("cwd", os.getcwd()))
    return out


def _git(folder: str, *args: str) -> str | None:
    """``git -C folder ARGS``' output, or ``None`` when git fails or is missing."""
    try:
        done = subprocess.run(  # noqa: S603 - fixed arguments, no shell
            ["git", "-C", folder, *args],  # noqa: S607 - git from PATH is what the user runs too
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def global_seed() -> int | None:
    """The seed set with ``seed_everything`` (Lightning keeps it in ``PL_GLOBAL_SEED``), else ``None``."""
    value = os.environ.get("PL_GLOBAL_SEED")
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def early_stopping_state(callback: Any) -> dict[str, Any]:
    """What one EarlyStopping callback knows: settings, counters, best score and Lightning's stopping reason."""
    reason = getattr(callback, "stopping_reason", None)
    best = getattr(callback, "best_score", None)
    return {
        "monitor": str(callback.monitor),
        "mode": str(callback.mode),
        "patience": int(callback.patience),
        "min_delta": abs(float(callback.min_delta)),
        "wait_count": int(callback.wait_count),
        "stopped_epoch": int(callback.stopped_epoch),
        "best_score": to_jsonable(best),
        "reason": reason.name if isinstance(reason, enum.Enum) else str(reason or "NOT_STOPPED"),
        "message": getattr(callback, "stopping_reason_message", None),
    }


def early_stopping_triggered(states: Sequence[Mapping[str, Any]]) -> bool:
    """True only when an EarlyStopping callback actually stopped the run (its reason is not ``NOT_STOPPED``)."""
    return any(state["reason"] != "NOT_STOPPED" for state in states)


def metrics_with_prefix(metrics: Mapping[str, Any], prefix: str) -> dict[str, float | None]:
    """Logged metrics whose name starts with ``prefix`` (e.g. ``test``), as floats (non-finite -> ``None``)."""
    out: dict[str, float | None] = {}
    for key, value in metrics.items():
        if key.startswith(prefix):
            numeric, number = _as_number(value)
            if numeric:
                out[key] = number
    return dict(sorted(out.items()))


def scalar_metrics(metrics: Mapping[str, Any]) -> dict[str, float | None]:
    """Every one-element metric in ``metrics`` as a float (non-finite -> ``None``), with one device read per device.

    Lightning's ``callback_metrics`` hold tensors that may live on a GPU: reading them one ``.item()`` at a time
    would wait for the device once per metric, so the tensors of each device are stacked and read together.
    """
    out: dict[str, float | None] = {}
    by_device: dict[Any, list[tuple[str, Any]]] = {}
    for key, value in metrics.items():
        if key in ("epoch", "step"):
            continue  # Lightning's own counters, recorded as the entry's epoch and step
        numel = getattr(value, "numel", None)
        if callable(numel) and hasattr(value, "device"):
            if numel() == 1:
                by_device.setdefault(value.device, []).append((key, value.detach().reshape(())))
            continue
        numeric, number = _as_number(value)
        if numeric:
            out[key] = number
    for items in by_device.values():
        import torch  # only reached with tensors, i.e. inside a Lightning run

        values = torch.stack([t.to(torch.float64) for _, t in items]).tolist()
        for (key, _), number in zip(items, values, strict=True):
            out[key] = number if math.isfinite(number) else None
    return dict(sorted(out.items()))


def raw_learning_rates(optimizers: Sequence[Any]) -> list[Any]:
    """Every parameter group's ``lr`` as it is now, in order: cheap enough for every training step (no naming, no
    conversion); :func:`learning_rates` names them later. A tensor rate is copied, as schedulers may change it in
    place."""
    return [
        lr.detach().clone() if hasattr(lr, "detach") else lr
        for optimizer in optimizers
        for group in getattr(optimizer, "param_groups", ())
        for lr in (group.get("lr"),)
    ]


def learning_rates(optimizers: Sequence[Any], rates: Sequence[Any] | None = None) -> dict[str, float | None]:
    """The learning rates, named as Lightning's ``LearningRateMonitor`` names them (``lr-Adam``, ``lr-SGD/pg1`` for a
    second parameter group, ``lr-Adam-1`` for a second Adam): the current ones, or ``rates`` read earlier by
    :func:`raw_learning_rates` from the same optimizers."""
    out: dict[str, float | None] = {}
    seen: dict[str, int] = {}
    taken = iter(rates) if rates is not None else None
    for optimizer in optimizers:
        name = f"lr-{type(optimizer).__name__}"
        count = seen.get(name, 0)
        seen[name] = count + 1
        base = f"{name}-{count}" if count else name
        groups = getattr(optimizer, "param_groups", [])
        for index, group in enumerate(groups):
            key = base if len(groups) == 1 else f"{base}/pg{index + 1}"
            out[key] = scalar(next(taken, None) if taken is not None else group.get("lr"))
    return out


def scalar(value: Any) -> float | None:
    """A tensor or number as a finite float, else ``None``."""
    return _as_number(value)[1]


def _as_number(value: Any) -> tuple[bool, float | None]:
    """``(True, float or None for non-finite/missing)`` for numbers and one-element tensors; ``(False, None)`` else."""
    number = to_jsonable(value)
    if isinstance(number, list) and len(number) == 1:
        number = number[0]
    if number is None:
        return True, None
    if isinstance(number, (int, float)) and not isinstance(number, bool):
        return True, float(number) if math.isfinite(number) else None
    return False, None


def safely(what: str, fn: Callable[[], Any], default: Any) -> Any:
    """``fn()``, or ``default`` with an :class:`~arccnet_ckpt.errors.ArcCkptWarning` when it raises.

    Capturing metadata never kills a run: a strange object costs a warning and that one field.
    """
    try:
        return fn()
    except Exception as e:
        message = f"ArcCheckpointCallback: could not capture {what} ({type(e).__name__}: {e}); the rest is kept"
        warnings.warn(message, ArcCkptWarning, stacklevel=3)
        return default


def run_config(
    trainer: Any,
    module: Any,
    config: Any,
    *,
    sources: Sequence[Any] = (),
    lightning_version: str | None,
    early_stopping_cls: type[Any],
    checkpoint_cls: type[Any],
) -> RunConfig:
    """Every part of ``config.json`` that comes from the Trainer, the module, the user's configs and the machine,
    and the run's :class:`Redaction` (the secrets they hold, to hide them in everything else the run writes).

    The top-level config is ``config`` (the callback's ``config=``), else the first of ``sources`` (the
    :class:`~arccnet_ckpt.capture.config_sources.SourceCapture` of Hydra, then LightningCLI); each
    source also keeps its own section. Each part is captured :func:`safely`: one that fails is left at its
    default, with a warning.
    """
    datamodule = getattr(trainer, "datamodule", None)
    callbacks = list(getattr(trainer, "callbacks", []))
    empty = Snapshot({}, [], set())
    source: str | None
    if config is not None:
        user = safely("the config", lambda: config_snapshot(config), empty)
        source = "argument"
    else:
        chosen = next((s for s in sources if s.config), None)  # Hydra with output_subdir=null has none
        user, source = (empty, None)
        if chosen is not None:
            listed = [{**e, "path": f"config.{e['path']}"} for e in chosen.section.get("unserializable") or []]
            user, source = Snapshot(chosen.config, listed, set()), chosen.name
    hparams = safely("hparams", lambda: snapshot(dict(module.hparams), "hparams"), empty)
    datamodule_hparams = (
        safely("datamodule hparams", lambda: snapshot(dict(datamodule.hparams), "datamodule_hparams"), empty)
        if datamodule is not None
        else None
    )
    parts = [user, hparams, *([datamodule_hparams] if datamodule_hparams else [])]
    # A value hidden under its key is hidden wherever else it appears: inside another value (`Bearer ${api_key}`),
    # inline on the command line (--model '{"api_key": ...}'), in an override or a folder named after overrides.
    found = Redaction(frozenset(text for part in parts for text in part.secrets))
    redaction = Redaction.union([found, *(s.redaction for s in sources)])
    environment = safely("environment", lambda: environment_info(lightning_version), None)
    parts_of_record = {
        "config": redaction.tree(user.value),
        "config_source": source,
        **{s.name: redaction.tree(s.section) for s in sources},
        "unserializable": redaction.tree([entry for part in parts for entry in part.unserializable]),
        "hparams": redaction.tree(hparams.value),
        "datamodule_hparams": redaction.tree(datamodule_hparams.value) if datamodule_hparams else None,
        "trainer": safely("trainer settings", lambda: trainer_settings(trainer), None),
        "optimizers": safely("optimizers", lambda: optimizer_infos(trainer), []),
        "lr_schedulers": safely("lr schedulers", lambda: scheduler_infos(trainer), []),
        "callbacks": safely("callbacks", lambda: callback_infos(callbacks, early_stopping_cls, checkpoint_cls), []),
        "model": safely("model info", lambda: model_info(module), None),
        "environment": redaction.tree(environment),
        "git": safely("git state", lambda: git_info(module), None),
        "seed": global_seed(),
        "created_at": datetime.now(timezone.utc),
    }
    return RunConfig(parts_of_record, redaction)


class RunConfig(NamedTuple):
    """What :func:`run_config` captured."""

    parts: dict[str, Any]
    """The fields of ``config.json`` that come from the run."""
    redaction: Redaction
    """Every secret the configs, hparams and datamodule hparams hold, and the environment values they read."""
