"""The README's layout table names every module of the package, and only modules that exist."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "src" / "arccnet_ckpt"


def _table_modules() -> set[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text[text.index("Layout, one responsibility a module") :]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    return {name for row in rows for name in re.findall(r"`([a-z_/]+\.py)`", row.split(" | ")[0])}


def test_the_readme_layout_table_matches_the_tree() -> None:
    modules = {str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*.py")}
    listed = _table_modules()
    assert not modules - listed, f"modules without a row in the README's layout table: {sorted(modules - listed)}"
    assert not listed - modules, f"rows for modules that do not exist: {sorted(listed - modules)}"


def test_no_module_is_over_about_500_lines_unless_the_table_says_why() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    long = {
        str(p.relative_to(PACKAGE)): n
        for p in PACKAGE.rglob("*.py")
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > 500
    }
    unexplained = [m for m, n in long.items() if f"({n} lines" not in text]
    assert not unexplained, f"modules over 500 lines whose row does not give the count and why: {unexplained}"
