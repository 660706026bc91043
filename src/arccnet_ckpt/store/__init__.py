"""Every file-system touch of the package, local or fsspec (``s3://``, ``memory://``): one module per responsibility.

- :mod:`~arccnet_ckpt.store.paths`: local path or URL (:func:`is_remote`), the fsspec file system, ``join``,
  ``basename``, ``dirname``, ``exists``, ``is_dir``, ``is_file``, ``lexists``, ``resolved``.
- :mod:`~arccnet_ckpt.store.write`: where the JSON is written: strict JSON (:func:`model_to_json`), atomic and
  fsynced writes (:func:`write_text`, :func:`write_bytes`, :func:`write_artifact`), the temporary file of a local
  write (:func:`local_temp_path`, :func:`commit_local`, :func:`is_temporary`), :func:`check_writable`.
- :mod:`~arccnet_ckpt.store.folders`: folders with the package's mode (:func:`makedirs`) and run folders claimed once
  even when writers race (:func:`make_unique_dir`, :data:`CLAIM_MARKER` on object stores).
- :mod:`~arccnet_ckpt.store.read`: the bytes a reader parses, bounded and non-blocking (:func:`read_bounded`,
  :func:`read_many`, :data:`MAX_JSON_BYTES`, :func:`unreadable_reason`), :func:`read_text`, :func:`open_for_reading`.
- :mod:`~arccnet_ckpt.store.listing`: listings and the scan's calls (:func:`list_files`, :func:`subfolders`,
  :func:`identity`, :func:`holds_file`, :func:`holds_temporary`, :func:`list_tree`).
- :mod:`~arccnet_ckpt.store.nofollow`: what prune and trash need, never through a link (:func:`move_no_follow`,
  :func:`remove_no_follow`, :func:`clear_folder_no_follow`, :func:`not_safely_below`, :func:`tree_size`).

Parsing and validating what is read is :mod:`arccnet_ckpt.records.reader`'s. Callers use ``store.X``; the names are
re-exported here. A test that replaces one of them (``monkeypatch.setattr(store, ...)``) replaces what callers outside
the package call, not a call between its modules: patch the module that holds the caller then (``store.write``).
"""

from __future__ import annotations

from arccnet_ckpt.store.folders import CLAIM_MARKER, make_unique_dir, makedirs
from arccnet_ckpt.store.listing import (
    holds_file,
    holds_temporary,
    identity,
    list_file_sizes,
    list_files,
    list_tree,
    may_hold_folders,
    subfolders,
)
from arccnet_ckpt.store.nofollow import (
    LinkRefused,
    clear_folder_no_follow,
    folder_names,
    link_target,
    move_no_follow,
    not_safely_below,
    remove_no_follow,
    tree_size,
)
from arccnet_ckpt.store.paths import (
    PathLike,
    basename,
    dirname,
    exists,
    is_dir,
    is_file,
    is_remote,
    join,
    lexists,
    resolved,
)
from arccnet_ckpt.store.read import (
    MAX_JSON_BYTES,
    open_for_reading,
    read_bounded,
    read_many,
    read_text,
    unreadable_reason,
)
from arccnet_ckpt.store.write import (
    TMP_PREFIX,
    check_writable,
    commit_local,
    is_temporary,
    local_temp_path,
    model_to_json,
    remove_quietly,
    unreachable,
    write_artifact,
    write_bytes,
    write_text,
)

__all__ = [
    "CLAIM_MARKER",
    "MAX_JSON_BYTES",
    "TMP_PREFIX",
    "LinkRefused",
    "PathLike",
    "basename",
    "check_writable",
    "clear_folder_no_follow",
    "commit_local",
    "dirname",
    "exists",
    "folder_names",
    "holds_file",
    "holds_temporary",
    "identity",
    "is_dir",
    "is_file",
    "is_remote",
    "is_temporary",
    "join",
    "lexists",
    "link_target",
    "list_file_sizes",
    "list_files",
    "list_tree",
    "local_temp_path",
    "make_unique_dir",
    "makedirs",
    "may_hold_folders",
    "model_to_json",
    "move_no_follow",
    "not_safely_below",
    "open_for_reading",
    "read_bounded",
    "read_many",
    "read_text",
    "remove_no_follow",
    "remove_quietly",
    "resolved",
    "subfolders",
    "tree_size",
    "unreachable",
    "unreadable_reason",
    "write_artifact",
    "write_bytes",
    "write_text",
]
