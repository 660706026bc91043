"""THE one redaction module: what counts as a secret, and every way a secret is hidden in what the package writes.

* the rule: :func:`is_secret_key` (which key names a secret) and :func:`keeps_secret` (which value holds one);
* free text: :func:`redact_text` (``user:pw@`` in URLs, ``Bearer``, ``key=value``, ``"key": value``,
  ``Name: value``);
* the command line: :func:`redact_argv`;
* values known to be secret, hidden wherever else they appear: :func:`mask_secrets`, :class:`Redaction` (and
  :func:`env_references`, the environment values a config reads);
* data loaded back as it is (a checkpoint's ``hyper_parameters``): :func:`redact_in_place_of`, and
  :func:`exposed_secrets` to find what was left;
* the YAML copies kept in the run folder (LightningCLI's ``config.yaml``, Hydra's ``.hydra`` files):
  :func:`redacted_yaml`.

A value made JSON-safe is redacted on the way, by :mod:`~arccnet_ckpt.jsonsafe`, with these rules.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from types import ModuleType
from typing import Any

REDACTED = "***"
"""What a secret value is replaced with."""

MIN_MASKED_LENGTH = 4
"""A hidden value shorter than this is not searched for elsewhere (``"1"`` would mask every digit of a command)."""

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

ENV_INTERPOLATION = re.compile(r"\$\{(?:oc\.env|env):\s*([A-Za-z_][A-Za-z0-9_]*)")
"""``${oc.env:NAME}`` (or the older ``${env:NAME}``): a config value read from the environment."""


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


def keeps_secret(value: Any) -> bool:
    """Whether a secret-keyed value holds one. An unset one does not, and stays as it is so the record does not
    pretend a key was set: ``None``, ``""``, OmegaConf's missing ``???``, an interpolation left unresolved
    (``${oc.env:X}``), ``***`` itself; nor does a bool (``use_auth: true`` says a setting, not a secret)."""
    if value is None or isinstance(value, bool):
        return False
    return not (isinstance(value, str) and (value in ("", "???", REDACTED) or value.startswith("${")))


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
            taken = _jsonsafe().snapshot(data)
            if taken.secrets:
                return json.dumps(taken.value, ensure_ascii=False)
    return redact_text(text)


def mask_secrets(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every occurrence of a known secret value replaced by ``***`` (the longest first).

    A secret hidden under its key in a config (``model.api_key``) can appear elsewhere in other forms: inside an
    inline JSON argument on the command line, a quoted or dict-valued Hydra override, Hydra's ``override_dirname``.
    """
    for secret in sorted({s for s in secrets if len(s) >= MIN_MASKED_LENGTH}, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text


def env_references(raw: Any) -> dict[str, str]:
    """``{value: NAME}`` for every environment variable that is set and that ``raw`` (plain data, or text) reads
    through ``${oc.env:NAME}`` (or the older ``${env:NAME}``)."""
    text = raw if isinstance(raw, str) else json.dumps(raw, default=str)
    return {os.environ[name]: name for name in set(ENV_INTERPOLATION.findall(text)) if os.environ.get(name)}


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
    :func:`keeps_secret`) and every string goes through :meth:`Redaction.message`, in dicts (their own class kept),
    lists, tuples, named tuples (their fields named like keys), ``argparse.Namespace``, dataclasses, pydantic models
    and OmegaConf configs. Anything else is left as it is. Nothing is changed in place: a container that holds a
    secret is copied, and one that holds none is returned itself.
    """
    return _kept(value, redaction or Redaction(), set(), 0)


def _kept(value: Any, redaction: Redaction, active: set[int], depth: int) -> Any:
    if isinstance(value, str):
        return redaction.message(value)
    if value is None or isinstance(value, (bool, int, float)) or depth > _jsonsafe().MAX_DEPTH or id(value) in active:
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
            return REDACTED if keeps_secret(v) else v
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
    is_pydantic_model = _jsonsafe().is_pydantic_model
    fields: dict[str, Any] | None = None
    if isinstance(value, tuple):  # a named tuple: its fields are named like keys
        fields = value._asdict()  # type: ignore[attr-defined]
    elif isinstance(value, argparse.Namespace):
        fields = vars(value)
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {f.name: getattr(value, f.name) for f in dataclasses.fields(value) if f.init}
    elif is_pydantic_model(value):
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
    if is_pydantic_model(value):
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
    jsonsafe = _jsonsafe()
    if depth > jsonsafe.MAX_DEPTH:
        return
    container = value if isinstance(value, (Mapping, list, tuple)) else jsonsafe.as_container(value)
    if isinstance(container, Mapping):
        for key, item in container.items():
            where = f"{path}.{key}" if path else str(key)
            if is_secret_key(key) and keeps_secret(item):
                found.append(where)
            else:
                _find_exposed(item, where, found, depth + 1)
    elif isinstance(container, (list, tuple)):
        for index, item in enumerate(container):
            _find_exposed(item, f"{path}[{index}]", found, depth + 1)
    elif isinstance(value, str) and redact_text(value) != value:
        found.append(path)


# ------------------------------------------------------------------------------------------------ YAML copies

_REDACTED_HEADER = "# arccnet-ckpt: a copy with secret values replaced by ***\n"


def redacted_yaml(text: str, redaction: Redaction | None = None) -> tuple[str, bool]:
    """``text`` as is when it holds no secret, else the same YAML with each secret value replaced by ``***``
    (comments and layout are then lost; the copy starts with a comment saying so).

    Args:
        text: The YAML text.
        redaction: Values known from elsewhere (secrets, the environment's), hidden wherever they appear.

    Returns:
        The text to keep, and whether anything was hidden.
    """
    data = load_yaml(text)
    clean, changed = _redact_yaml_data(data, redaction or Redaction())
    if not changed:
        return text, False
    import yaml

    return _REDACTED_HEADER + yaml.safe_dump(clean, sort_keys=False, allow_unicode=True), True


def load_yaml(text: str) -> Any:
    """YAML text as plain data (``yaml.safe_load``; PyYAML is imported when first needed)."""
    import yaml

    return yaml.safe_load(text)


def _redact_yaml_data(value: Any, redaction: Redaction) -> tuple[Any, bool]:
    """Hide secret values in plain YAML data by the rule of ``config.json`` (:func:`keeps_secret`), leaving
    everything else exactly as it is."""
    if isinstance(value, Mapping):
        out: dict[Any, Any] = {}
        changed = False
        for key, item in value.items():
            if is_secret_key(key) and keeps_secret(item):
                out[key], hidden = REDACTED, True
            else:
                out[key], hidden = _redact_yaml_data(item, redaction)
            changed = changed or hidden
        return out, changed
    if isinstance(value, list):
        items = [_redact_yaml_data(item, redaction) for item in value]
        return [item for item, _ in items], any(hidden for _, hidden in items)
    if isinstance(value, str):
        clean = redaction.text(redact_text(value))
        return clean, clean != value
    return value, False


def _jsonsafe() -> ModuleType:
    """:mod:`~arccnet_ckpt.capture.jsonsafe`, imported on first use: it imports this module's rules at its top, and
    the walks here need its container view only for values held in objects (inline data on the command line, a
    checkpoint's hyper-parameters, a loaded checkpoint)."""
    from arccnet_ckpt.capture import jsonsafe

    return jsonsafe
