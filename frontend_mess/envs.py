"""Environment variants: frontend-mess with some upstream pins moved (torch 2.15.0, IREE 3.12),
each a uv project under `envs/NAME/` (its `pyproject.toml` names what it overrides, its
`uv.lock` is written by `uv lock --project envs/NAME`, never by hand) built into
`envs/NAME/.venv` by `uv sync --project envs/NAME`.

A command given `--env NAME` runs again, whole, under that variant's interpreter (the same
frontend-mess code, installed editable from this checkout), with FRONTEND_MESS_ENV naming the
variant; a matrix record carries the name beside the tool versions it was made with.
"""

from __future__ import annotations

import os
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

from frontend_mess.support.errors import FrontendError

#: the variable that names the variant a process runs in (unset: the default environment)
ENV_VAR = "FRONTEND_MESS_ENV"
DEFAULT_ENV = "default"
#: where the variants live: a source checkout's `envs/`
ENVS_DIR = Path(__file__).resolve().parents[1] / "envs"


@dataclass(frozen=True)
class Variant:
    name: str
    description: str
    #: the requirements it puts in place of frontend-mess's pins (`torch==2.15.0`)
    overrides: tuple[str, ...]
    root: Path

    @property
    def python(self) -> Path:
        return self.root / ".venv" / "bin" / "python"

    @property
    def script(self) -> Path:
        """Its `frontend-mess` console script. Run by path, where `python -m frontend_mess`
        would let a `frontend_mess` folder in the current directory shadow the package."""
        return self.root / ".venv" / "bin" / "frontend-mess"

    @property
    def built(self) -> bool:
        return self.python.is_file()


def current() -> str:
    """The variant this process runs in: the one ENV_VAR names, where this interpreter is
    that variant's (a variable left exported in a shell does not relabel the default)."""
    name = os.environ.get(ENV_VAR, "").strip()
    if not name or name == DEFAULT_ENV:
        return DEFAULT_ENV
    try:
        ours = Path(sys.prefix).resolve() == (ENVS_DIR / name / ".venv").resolve()
    except OSError:
        ours = False
    return name if ours else DEFAULT_ENV


def variants(root: Path = ENVS_DIR) -> dict[str, Variant]:
    """Every variant defined under `root`, by name."""
    found = {}
    for manifest in sorted(root.glob("*/pyproject.toml")):
        try:
            with manifest.open("rb") as handle:
                data = tomllib.load(handle)
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise FrontendError(f"{manifest} is not a readable variant manifest: {exc}") from exc
        found[manifest.parent.name] = Variant(
            name=manifest.parent.name,
            description=data.get("project", {}).get("description", ""),
            overrides=tuple(data.get("tool", {}).get("uv", {}).get("override-dependencies", [])),
            root=manifest.parent,
        )
    return found


def variant(name: str, root: Path = ENVS_DIR) -> Variant:
    """The built variant `name`, or one error line saying how to get it."""
    known = variants(root)
    if name not in known:
        choices = ", ".join([DEFAULT_ENV, *known]) or DEFAULT_ENV
        raise FrontendError(f"unknown environment variant {name!r}: use one of {choices}")
    chosen = known[name]
    if not chosen.built:
        raise FrontendError(
            f"environment variant {name!r} is not built ({chosen.python} is missing): run "
            f"`uv sync --project envs/{name}` first"
        )
    return chosen


def reexec(name: str, argv: list[str]) -> None:
    """Run `frontend-mess argv` again under variant `name` in place of this process (the
    default variant, or the one already running, returns at once)."""
    if name in (None, current()):
        return
    if name == DEFAULT_ENV:
        raise FrontendError(
            f"--env default from inside variant {current()!r}: run it from the project's own "
            "environment (`uv run frontend-mess ...`)"
        )
    chosen = variant(name)
    sys.stdout.flush()
    sys.stderr.flush()
    environment = {**os.environ, ENV_VAR: name}
    environment.pop("VIRTUAL_ENV", None)
    command = [str(chosen.script), *argv]
    try:
        os.execve(command[0], command, environment)
    except OSError as exc:
        raise FrontendError(f"could not start variant {name!r} ({command[0]}): {exc}") from exc
