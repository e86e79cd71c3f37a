"""Write frontend_mess/importers/data/torchvision_models.json from the installed torchvision.

    uv run python scripts/torchvision_catalog.py

Run it after bumping torchvision; tests/unit/test_sources.py fails until the catalog matches.
"""

from __future__ import annotations

import json
from importlib import metadata

from frontend_mess.importers.torchvision_models import CATALOG, live_catalog, live_families
from frontend_mess.support.atomic import write_atomically


def main() -> None:
    data = {
        "torchvision": metadata.version("torchvision"),
        "models": live_catalog(),
        "families": live_families(),
    }
    text = json.dumps(data, indent=1, sort_keys=True) + "\n"
    write_atomically(CATALOG, lambda out: out.write(text.encode()))
    more = sum(map(len, data["families"].values()))
    print(
        f"wrote {CATALOG} ({len(data['models'])} classification models, {more} more in "
        f"{len(data['families'])} families, torchvision {data['torchvision']})"
    )


if __name__ == "__main__":
    main()
