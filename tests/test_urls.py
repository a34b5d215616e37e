"""Git URLs and refs: what is accepted, refused, split and redacted."""

from __future__ import annotations

import pytest

from crafting_table.urls import (
    check_git_url_shape,
    check_ref,
    owner_and_repo,
    parse_git_url,
    points_at,
    redact_url,
    repository_uri,
    split_credentials,
)


@pytest.mark.parametrize(
    ("url", "scheme", "host"),
    [
        pytest.param(
            "https://git.example.com/org/repo.git",
            "https",
            "git.example.com",
            id="https",
        ),
        pytest.param(
            "ssh://git@git.example.com/org/repo.git", "ssh", "git.example.com", id="ssh"
        ),
        pytest.param(
            "git@git.example.com:org/repo.git", "ssh", "git.example.com", id="scp"
        ),
        pytest.param("git://git.example.com/repo", "git", "git.example.com", id="git"),
        pytest.param("file:///srv/repo.git", "file", None, id="file"),
        pytest.param("/srv/repo.git", "file", None, id="path"),
        pytest.param(
            "https://u:t%40k@h.example/o/r.git", "https", "h.example", id="creds"
        ),
    ],
)
def test_accepted(url: str, scheme: str, host: str | None) -> None:
    parsed = parse_git_url(url)

    assert (parsed.scheme, parsed.host) == (scheme, host)


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        pytest.param("-uhttps://x", "starts with '-'", id="option"),
        pytest.param("ext::sh -c id", "'ext::' transport", id="ext-with-space"),
        pytest.param("ext::sh%20-c%20id", "'ext::' transport", id="ext"),
        pytest.param("fd::3", "remote helper", id="fd"),
        pytest.param("ftp://host/repo", "not allowed", id="ftp"),
        pytest.param("https://a.example@b.example/r", "host-like", id="userinfo-trick"),
        pytest.param("https://x@y@z.example/r", "more than one '@'", id="two-at"),
        pytest.param("https://host/r\n", "control", id="newline"),
        pytest.param("file://remote.example/srv/r", "remote host", id="file-host"),
        pytest.param("relative/path", "not a URL", id="relative"),
        pytest.param("https://host/r%0a--x", "control", id="encoded-newline"),
        pytest.param("ssh://-oProxyCommand=x@host/r", "starting with '-'", id="user"),
        pytest.param("http://169.254.169.254/latest", "metadata", id="link-local"),
        pytest.param("http://2852039166/latest", "metadata", id="decimal-ipv4"),
        pytest.param("http://0xa9.0xfe.0xa9.0xfe/x", "metadata", id="hex-ipv4"),
        pytest.param("http://[::ffff:169.254.169.254]/x", "metadata", id="mapped"),
        pytest.param("http://[fe80::1%25eth0]/x", "metadata", id="ipv6-link-local"),
        pytest.param("ssh://git@[fd00:ec2::254]/x", "metadata", id="aws-ipv6"),
        pytest.param("http://metadata.google.internal/x", "metadata", id="gce-name"),
        pytest.param("http://METADATA.Google.Internal./x", "metadata", id="name-case"),
        pytest.param("git@169.254.169.254:org/x.git", "metadata", id="scp-link-local"),
        pytest.param("https://h.example:99999/x", "bad port", id="port"),
    ],
)
def test_refused(url: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        parse_git_url(url)


def test_credentials_are_split_off() -> None:
    clean, user, password = split_credentials(
        "https://bot:s3cr%2Ft@git.example/o/r.git"
    )

    assert clean == "https://git.example/o/r.git"
    assert (user, password) == ("bot", "s3cr/t")


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        pytest.param(
            "https://bot:tok@h.example/o/r", "https://***@h.example/o/r", id="pair"
        ),
        pytest.param(
            "https://tok@h.example/o/r", "https://***@h.example/o/r", id="token"
        ),
        pytest.param("git@h.example:o/r.git", "git@h.example:o/r.git", id="ssh-user"),
        pytest.param("https://h.example/o/r", "https://h.example/o/r", id="plain"),
    ],
)
def test_redaction(url: str, shown: str) -> None:
    assert redact_url(url) == shown


@pytest.mark.parametrize(
    "ref",
    [
        "-x",
        "--upload-pack=x",
        "a..b",
        "a b",
        "a~1",
        "HEAD^",
        "a:b",
        "x.lock",
        "/a",
        "a//b",
        "",
    ],
)
def test_bad_refs(ref: str) -> None:
    with pytest.raises(ValueError, match="ref"):
        check_ref(ref)


@pytest.mark.parametrize("ref", ["main", "feature/x-1", "v1.2.3", "release_2026"])
def test_good_refs(ref: str) -> None:
    assert check_ref(ref) == ref


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        pytest.param(
            "https://t@git.example/org/alpha.git", ("org", "alpha"), id="https"
        ),
        pytest.param("git@git.example:org/beta", ("org", "beta"), id="scp"),
        pytest.param(
            "ssh://git@git.example:2222/org/gamma.git", ("org", "gamma"), id="ssh"
        ),
        pytest.param("/tmp/x/org/alpha.git", ("org", "alpha"), id="path"),
        pytest.param("file:///srv/org/delta.git", ("org", "delta"), id="file"),
        pytest.param("/srv/org/alpha.git/", ("org", "alpha"), id="trailing-slash"),
        pytest.param("/repo.git", None, id="one-segment"),
        pytest.param("https://git.example/repo.git", None, id="no-owner"),
        pytest.param("ext::sh", None, id="refused"),
    ],
)
def test_owner_and_repo(url: str, expected: tuple[str, str] | None) -> None:
    assert owner_and_repo(url) == expected


@pytest.mark.parametrize(
    "url",
    [
        pytest.param("https://bot:tok-secret-1@x@y.example/r", id="two-at"),
        pytest.param("https://bot:tok-secret-1@host/r\n", id="newline"),
        pytest.param("ftp://bot:tok-secret-1@host/r", id="scheme"),
    ],
)
def test_errors_never_quote_credentials(url: str) -> None:
    with pytest.raises(ValueError, match="git_url") as refused:
        parse_git_url(url)

    assert "tok-secret-1" not in str(refused.value)


@pytest.mark.parametrize(
    ("url", "service", "expected"),
    [
        pytest.param("http://127.0.0.1:8810/x", [("127.0.0.1", 8810)], True, id="same"),
        pytest.param("http://localhost:8810/x", [("127.0.0.1", 8810)], True, id="name"),
        pytest.param("http://[::1]:8810/x", [("0.0.0.0", 8810)], True, id="ipv6-lo"),
        pytest.param(
            "http://127.1.2.3:8810/x", [("10.0.0.5", 8810)], True, id="lo-any"
        ),
        pytest.param("http://2130706433:8810/x", [("::", 8810)], True, id="decimal"),
        pytest.param("http://10.0.0.5:8810/x", [("10.0.0.5", 8810)], True, id="bound"),
        pytest.param(
            "http://0.0.0.0:8810/x", [("10.0.0.5", 8810)], True, id="wildcard"
        ),
        pytest.param("http://ci.lan/x", [("ci.lan", 80)], True, id="default-port"),
        pytest.param(
            "http://127.0.0.1:8811/x", [("127.0.0.1", 8810)], False, id="port"
        ),
        pytest.param("http://10.0.0.6:8810/x", [("10.0.0.5", 8810)], False, id="host"),
        pytest.param("https://ci.lan/x", [("ci.lan", 80)], False, id="scheme-port"),
        pytest.param("/srv/repo.git", [("127.0.0.1", 8810)], False, id="path"),
    ],
)
def test_points_at_the_service(
    url: str, service: list[tuple[str, int]], expected: bool
) -> None:
    assert points_at(parse_git_url(url), service) is expected


def test_an_unfilled_example_placeholder_is_refused() -> None:
    with pytest.raises(ValueError, match=r"register-all\.sh"):
        check_git_url_shape(
            "https://crafting-table:REPLACE_WITH_GITEA_TOKEN@REPLACE_WITH_GIT_HOST"
            "/org/gamma.git"
        )


@pytest.mark.parametrize(
    ("git_url", "uri"),
    [
        (
            "https://bot:s3cret@git.example/org/app.git",
            "https://git.example/org/app.git",
        ),
        (
            "ssh://git@git.example:2222/org/app.git",
            "ssh://git.example:2222/org/app.git",
        ),
        ("git@git.example:org/app.git", "ssh://git.example/org/app.git"),
        ("/srv/git/app.git", "file:///srv/git/app.git"),
        ("file:///srv/git/app.git", "file:///srv/git/app.git"),
    ],
)
def test_a_repository_uri_never_carries_credentials(git_url: str, uri: str) -> None:
    assert repository_uri(git_url) == uri
