"""The notify room's pure parts: the [[targets]] checks, path translation, the signature,
and what a planned request shows (its credentials hidden)."""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path

import pytest

from mediaforged.config import ConfigError, load_config
from mediaforged.notify.model import translate
from mediaforged.notify.rpc import _relative, _version
from mediaforged.notify.senders import Request, sign
from mediaforged.settings.targets import parse_targets


def test_the_longest_prefix_wins_and_a_path_outside_every_map_is_none() -> None:
    (spec,) = parse_targets(
        [
            {
                "name": "jf",
                "kind": "jellyfin",
                "url": "http://h:8096",
                "token": "k",
                "path_map": {"/volume1/media": "/data", "/volume1/media/tv": "/tv/"},
            }
        ]
    )
    assert translate("/volume1/media/movies/a.mkv", spec.path_map) == "/data/movies/a.mkv"
    assert translate("/volume1/media/tv/s01/e1.mkv", spec.path_map) == "/tv/s01/e1.mkv"
    assert translate("/volume1/media/tv", spec.path_map) == "/tv"
    assert translate("/volume1/media-old/x.mkv", spec.path_map) is None  # whole components
    assert translate("/elsewhere/x.mkv", spec.path_map) is None
    assert translate("/elsewhere/x.mkv", ()) == "/elsewhere/x.mkv"  # no map: our paths


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ('name = "a b"\nkind = "plex"', r"targets: #1\.name: expected a name"),
        ('name = "p"\nkind = "plexx"', "targets: p.kind: expected one of jellyfin, emby, plex"),
        (
            'name = "p"\nkind = "plex"\nurl = "ftp://x"\ntoken = "t"',
            "targets: p.url: expected http",
        ),
        ('name = "p"\nkind = "plex"\nurl = "http://x"', "targets: p: plex needs a token"),
        ('name = "p"\nkind = "plex"\nurl = "http://x"\ntoken = "t"\ntoken_file = "/f"', "not both"),
        ('name = "c"\nkind = "command"', "targets: c.command: the program to run"),
        ('name = "w"\nkind = "webhook"\nurl = "http://x"\ntoken = "t"\ncolour = 1', "unknown key"),
        ('name = "w"\nkind = "webhook"\nurl = "http://x"\ntoken = "t"\ndebounce = -1', "debounce"),
        ('name = "w"\nkind = "webhook"\nurl = "http://x"\ntoken = "t"\ntypes = ["film"]', "film"),
        ('name = "w"\nkind = "webhook"\nurl = "http://x"\ntoken = "t"\nroots = ["/nope"]', "roots"),
        (
            'name = "w"\nkind = "webhook"\nurl = "http://x"\ntoken = "t"\npath_map = { "a" = "b" }',
            "path_map",
        ),
    ],
)
def test_a_bad_target_is_one_clear_error(tmp_path: Path, table: str, message: str) -> None:
    path = tmp_path / "mediaforge.toml"
    path.write_text(f'roots = ["{tmp_path}"]\n[[targets]]\n{table}\n')
    with pytest.raises(ConfigError, match=message) as caught:
        load_config(path, env={"HOME": str(tmp_path)})
    assert str(caught.value).startswith(f"{path}: targets: ")


def test_targets_load_and_a_token_file_is_read_when_used(tmp_path: Path) -> None:
    key = tmp_path / "jf.key"
    path = tmp_path / "mediaforge.toml"
    path.write_text(
        f'roots = ["{tmp_path}"]\n[[targets]]\nname = "jf"\nkind = "jellyfin"\n'
        f'url = "http://127.0.0.1:8096/"\ntoken_file = "{key}"\ndebounce = 2\n'
        f'path_map = {{ "{tmp_path}" = "/data" }}\n'
    )
    (spec,) = load_config(path, env={"HOME": str(tmp_path)}).targets
    assert (spec.url, spec.debounce, spec.path_map) == (
        "http://127.0.0.1:8096",
        2.0,
        ((str(tmp_path), "/data"),),
    )
    with pytest.raises(ValueError, match="token_file"):
        spec.credential()
    key.write_text("secret\n")
    assert spec.credential() == "secret"


def test_the_signature_is_the_hmac_of_the_body() -> None:
    body = b'{"events":[]}'
    expected = hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    assert sign("s3cret", body) == f"sha256={expected}"


def test_a_planned_request_hides_its_credentials() -> None:
    request = Request(
        "GET",
        "http://plex/library/sections/1/refresh",
        params={"path": "/data/m", "t": "tok"},
        headers={"X-Plex-Token": "tok", "Accept": "json"},
        secret_headers=frozenset({"X-Plex-Token"}),
    )
    shown = request.shown()
    assert "tok" not in str(shown)
    assert shown["headers"]["Accept"] == "json"
    assert "path=%2Fdata%2Fm" in shown["url"]


def test_navidrome_versions_and_targets_inside_a_library() -> None:
    assert _version("0.59.0 (a1b2c3)") >= (0, 59) > _version("0.58.5 (ffff)")
    assert _version("v0.60.3") == (0, 60, 3) and _version("unknown") == ()
    assert _relative("/music/Rock/Album", ["/music", "/music/Rock"]) == "Album"
    assert _relative("/music", ["/music/"]) == "."
