"""Puts `./conf` of the working directory on sustain's config search path, when it exists.

That is where a site keeps `local/default.yaml` and a user their own groups (`conf/model/mine.yaml`,
`conf/task/mine.yaml`, ...), with no `hydra.searchpath` override. Only sustain's own app is touched:
another Hydra app installed beside it keeps its search path.
"""

from __future__ import annotations

from pathlib import Path

from hydra.core.config_search_path import ConfigSearchPath
from hydra.plugins.search_path_plugin import SearchPathPlugin


class SustainWorkingDirConf(SearchPathPlugin):
    def manipulate_search_path(self, search_path: ConfigSearchPath) -> None:
        ours = any(str(Path("sustain") / "conf") in element.path for element in search_path.get_path())
        if ours and Path("conf").is_dir():
            search_path.append(provider="sustain-working-dir", path=f"file://{Path('conf').resolve()}")
