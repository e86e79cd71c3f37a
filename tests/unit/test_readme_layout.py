"""The README's layout table matches the tree: every path it names exists, and every module
of the package is named in it (so a new module cannot go undocumented, nor a moved one stay)."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _layout_rows() -> list[tuple[str, str]]:
    text = (ROOT / "README.md").read_text()
    section = text.split("\n## Layout\n", 1)[1].split("\n## ", 1)[0]
    rows = []
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 2 and cells[0].startswith("`"):
            rows.append((cells[0], cells[1]))
    return rows


def _named(cell: str) -> list[str]:
    return re.findall(r"`([^`]+)`", cell)


def test_every_path_in_the_layout_table_exists():
    for first, second in _layout_rows():
        paths = _named(first)
        base = Path(paths[0]).parent if not paths[0].endswith("/") else Path(paths[0])
        for path in paths:
            target = ROOT / path if "/" in path else ROOT / base / path
            assert target.exists(), f"README layout names {path}, which is not in the tree"
        if paths[0].startswith("frontend_mess/") and paths[0].endswith("/"):  # its modules
            for name in _named(second):
                if (name.endswith(".py") or name.endswith("/")) and "/" not in name[:-1]:
                    assert (ROOT / paths[0] / name).exists(), f"{paths[0]}{name} is not there"


def test_every_module_of_the_package_is_in_the_layout_table():
    named = set()
    for first, second in _layout_rows():
        paths = _named(first)
        base = paths[0] if paths[0].endswith("/") else str(Path(paths[0]).parent) + "/"
        named |= {p if "/" in p else base + p for p in paths}
        named |= {base + n for n in _named(second) if n.endswith(".py")}
    package = ROOT / "frontend_mess"
    for module in package.rglob("*.py"):
        relative = module.relative_to(ROOT).as_posix()
        if module.name in ("__init__.py", "__main__.py"):
            continue
        assert relative in named, f"{relative} is not in the README's layout table"
