"""Wrong paths are errors that say what is wrong: a rescan of a typo, a single pass over a
root that is not there, a root that is a file. A catalogued file that vanished is still a
rescan, which marks it missing."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path

from mediaforged.daemon import main
from tests.conftest import PYTHON, Daemon, wait_for


def test_rescan_of_a_path_that_does_not_exist_is_an_error(
    daemon_factory: Callable[..., Daemon], library: Path, tmp_path: Path
) -> None:
    (library / "sub").mkdir()
    (library / "a.jpg").write_bytes(b"a".ljust(64, b"."))
    (library / "sub" / "b.jpg").write_bytes(b"b".ljust(64, b"."))
    a_file = tmp_path / "photos.jpg"  # a root that is a file, not a folder
    a_file.write_bytes(b"not a folder")
    daemon = daemon_factory([library, a_file]).start()
    daemon.wait_idle()
    typo = library / "sbu" / "b.jpg"
    result = daemon.ctl("rescan", str(typo), check=False)
    assert result.returncode != 0
    assert f"no such file or folder: {typo}" in result.stderr, result.stderr
    assert daemon.catalog.item(typo) is None

    # Catalogued, then gone: a legitimate rescan that marks them missing.
    (library / "a.jpg").unlink()
    (library / "sub" / "b.jpg").unlink()
    (library / "sub").rmdir()
    daemon.ctl("rescan", str(library / "a.jpg"))
    daemon.ctl("rescan", str(library / "sub"))
    missing = wait_for(lambda: len(m := daemon.catalog.items("missing")) == 2 and m)
    assert set(missing) == {os.fsencode(library / "a.jpg"), os.fsencode(library / "sub/b.jpg")}

    (root,) = [r for r in daemon.status()["roots"] if r["path"] == str(a_file)]
    assert not root["online"]
    assert f"{a_file} is not a folder" in root["offline_reason"], root
    assert daemon.stop() == 0


def _once(*roots: Path, state: Path) -> subprocess.CompletedProcess[str]:
    argv = [PYTHON, "-m", "mediaforged", "--once", "--state-dir", str(state)]
    argv += [a for r in roots for a in ("--root", str(r))]
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEDIAFORGE_")}
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, env=env, check=False)


def test_once_over_a_root_that_is_missing_or_a_file_fails(tmp_path: Path) -> None:
    nowhere = tmp_path / "nonexistent"
    result = _once(nowhere, state=tmp_path / "state")
    assert result.returncode == main.EXIT_CONFIG, result.stderr
    assert f"{nowhere} is not reachable (missing or unmounted)" in result.stderr
    a_file = tmp_path / "photos.jpg"
    a_file.write_bytes(b"not a folder")
    result = _once(a_file, state=tmp_path / "state")
    assert result.returncode == main.EXIT_CONFIG, result.stderr
    assert f"{a_file} is not a folder" in result.stderr
    assert len(result.stderr.splitlines()) == 1, result.stderr
