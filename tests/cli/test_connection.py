"""Where the client finds the service and its bearer."""

from __future__ import annotations

from pathlib import Path

import pytest

from crafting_table.cli.connection import DEFAULT_URL, Target, resolve_target, segment
from crafting_table.errors import UsageError


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A working folder with the service's admin bearer file in ./data."""
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "admin-bearer.txt").write_text("ct_from_file\n")
    return tmp_path


@pytest.mark.parametrize(
    ("url", "token", "environ", "expected"),
    [
        (None, None, {}, (DEFAULT_URL, "ct_from_file")),
        (
            None,
            None,
            {"CRAFTING_TABLE_BASE_URL": "http://ci:8810/", "CRAFTING_TABLE_TOKEN": "e"},
            ("http://ci:8810", "e"),
        ),
        (
            "https://flag:1",
            "f",
            {"CRAFTING_TABLE_BASE_URL": "http://ci:8810", "CRAFTING_TABLE_TOKEN": "e"},
            ("https://flag:1", "f"),
        ),
        (None, None, {"CRAFTING_TABLE_TOKEN": "  "}, (DEFAULT_URL, "ct_from_file")),
    ],
    ids=["defaults-and-file", "environment", "flags-win", "blank-env-token"],
)
def test_precedence(
    folder: Path,
    url: str | None,
    token: str | None,
    environ: dict[str, str],
    expected: tuple[str, str],
) -> None:
    target = resolve_target(url, token, environ, folder)

    assert (target.url, target.token) == expected


def test_crafting_data_dir_moves_the_bearer_file(folder: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()

    assert resolve_target(None, None, {}, elsewhere).token is None
    environ = {"CRAFTING_DATA_DIR": str(folder / "data")}
    assert resolve_target(None, None, environ, elsewhere).token == "ct_from_file"
    relative = {"CRAFTING_DATA_DIR": "data"}
    assert resolve_target(None, None, relative, folder).token == "ct_from_file"


@pytest.mark.parametrize(
    ("bind", "expected"),
    [
        ("127.0.0.1:8811", "http://127.0.0.1:8811"),
        ("0.0.0.0:9000", "http://127.0.0.1:9000"),
        ("[::]:9000", "http://[::1]:9000"),
        ("10.1.2.3:8810", "http://10.1.2.3:8810"),
        ("127.0.0.1:0", DEFAULT_URL),
    ],
)
def test_the_service_of_this_folder_is_found_by_its_bind(
    folder: Path, bind: str, expected: str
) -> None:
    (folder / ".env").write_text(f"CRAFTING_BIND={bind}\nCRAFTING_DATA_DIR=data\n")

    from_file = resolve_target(None, None, {}, folder)
    from_environ = resolve_target(
        None, None, {"CRAFTING_BIND": "127.0.0.1:7000"}, folder
    )
    told = resolve_target(None, None, {"CRAFTING_TABLE_BASE_URL": "http://x:1"}, folder)

    assert (from_file.url, from_file.token) == (expected, "ct_from_file")
    assert from_environ.url == "http://127.0.0.1:7000"
    assert told.url == "http://x:1"


def test_the_env_file_moves_the_bearer_file(folder: Path) -> None:
    (folder / "elsewhere").mkdir()
    (folder / "elsewhere" / "admin-bearer.txt").write_text("ct_elsewhere\n")
    (folder / ".env").write_text("CRAFTING_DATA_DIR=elsewhere\n")

    assert resolve_target(None, None, {}, folder).token == "ct_elsewhere"


def test_an_unreadable_bearer_file_is_named(tmp_path: Path) -> None:
    # A folder where the file should be: reading it fails, as a file of
    # another user would.
    (tmp_path / "data" / "admin-bearer.txt").mkdir(parents=True)

    target = resolve_target(None, None, {}, tmp_path)

    assert target.token is None
    assert "admin-bearer.txt is not readable" in target.missing_reason


@pytest.mark.parametrize(
    "url",
    ["localhost:8810", "ftp://host/", "http://", "not a url"],
    ids=["no-scheme", "ftp", "no-host", "words"],
)
def test_a_url_that_is_not_http_is_a_usage_error(folder: Path, url: str) -> None:
    with pytest.raises(UsageError, match="is not an http:// or https:// URL"):
        resolve_target(url, None, {}, folder)


@pytest.mark.parametrize(
    ("url", "ws_url"),
    [
        ("http://h:1", "ws://h:1"),
        ("https://h/ct", "wss://h/ct"),
    ],
    ids=["plain", "tls-with-prefix"],
)
def test_websocket_url(url: str, ws_url: str) -> None:
    assert Target(url=url, token="t").ws_url == ws_url


def test_the_bearer_is_not_in_repr() -> None:
    assert "ct_secret" not in repr(Target(url="http://h", token="ct_secret"))


@pytest.mark.parametrize(
    ("value", "quoted"),
    [("alpha", "alpha"), ("../admin/tokens", "..%2Fadmin%2Ftokens"), (7, "7")],
    ids=["name", "traversal", "number"],
)
def test_segment(value: str | int, quoted: str) -> None:
    assert segment(value) == quoted
