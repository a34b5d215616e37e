"""Git URLs and refs: what is accepted, and how credentials are kept out of sight.

A project's ``git_url`` may carry credentials (``https://user:token@host/``).
They are stored, never shown: :func:`redact_url` is what every answer and
log line uses, and :func:`split_credentials` is how the workspace hands
them to git through the environment instead of the remote URL.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit, urlunsplit

SCHEMES = ("https", "http", "ssh", "git", "file")
_SCP_LIKE = re.compile(
    r"^(?P<user>[A-Za-z0-9._-]+@)?(?P<host>[A-Za-z0-9.-]+):(?P<path>[^/].*)$"
)
_CONTROL = re.compile(r"[\x00-\x20\x7f]")
_BAD_REF_CHARS = re.compile(r"[\x00-\x20\x7f~^:?*\[\\]")


@dataclass(frozen=True, slots=True)
class GitUrl:
    """A checked git URL split into what git sees and what it must not."""

    url: str
    scheme: str
    host: str | None
    username: str | None
    password: str | None

    @property
    def is_file(self) -> bool:
        """True for ``file://`` URLs and plain local paths."""
        return self.scheme == "file"


def check_ref(value: str) -> str:
    """Return ``value`` if it is a safe branch or tag name, else raise ValueError.

    A subset of ``git check-ref-format``: nothing that git could read as an
    option, no revision syntax, no control characters.
    """
    problem = None
    if not value:
        problem = "is empty"
    elif value.startswith("-"):
        problem = "starts with '-' and would be read as an option"
    elif _BAD_REF_CHARS.search(value):
        problem = "contains a space, control character or one of ~^:?*[\\"
    elif ".." in value or "@{" in value or "//" in value or value == "@":
        problem = "contains '..', '@{' or '//'"
    elif value.endswith(("/", ".", ".lock")) or value.startswith("/"):
        problem = "starts or ends with '/', or ends with '.' or '.lock'"
    elif any(part.startswith(".") for part in value.split("/")):
        problem = "has a component starting with '.'"
    elif len(value) > 255:
        problem = "is longer than 255 characters"
    if problem:
        raise ValueError(f"ref {value!r} {problem}; name a branch such as 'main'")
    return value


def parse_git_url(value: str) -> GitUrl:
    """Check the shape of a git URL and split it; raise ValueError if unsafe.

    Accepted: ``https``, ``http``, ``ssh``, ``git`` and ``file`` URLs, the
    scp-like ``user@host:path`` form, and absolute local paths (as file).
    Refused: anything starting with ``-``, ``<transport>::`` forms such as
    ``ext::``, control characters, and userinfo that hides the real host.
    """
    # Messages quote the URL with any credentials masked: they reach API
    # answers and logs.
    shown = _mask_userinfo(value)
    if _CONTROL.search(value):
        raise ValueError(
            f"git_url {shown!r} contains whitespace or a control character"
        )
    if value.startswith("-"):
        raise ValueError(
            f"git_url {shown!r} starts with '-' and would be read as an option"
        )
    if "::" in value.split("/", 1)[0]:
        raise ValueError(
            f"git_url {shown!r} uses a '<transport>::' remote helper; use an "
            "https://, ssh:// or git:// URL"
        )
    if value.startswith("/"):
        return GitUrl(url=value, scheme="file", host=None, username=None, password=None)

    if "://" not in value:
        match = _SCP_LIKE.match(value)
        if not match:
            raise ValueError(
                f"git_url {shown!r} is not a URL; use https://host/org/repo.git, "
                "ssh://git@host/org/repo.git or an absolute path"
            )
        user = match["user"][:-1] if match["user"] else None
        return GitUrl(
            url=value, scheme="ssh", host=match["host"], username=user, password=None
        )

    parts = urlsplit(value)
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        raise ValueError(
            f"git_url scheme {parts.scheme!r} is not allowed; "
            f"use one of {', '.join(SCHEMES)}"
        )
    if scheme == "file":
        if parts.netloc not in ("", "localhost"):
            raise ValueError(f"git_url {shown!r} names a remote host in a file:// URL")
        return GitUrl(url=value, scheme="file", host=None, username=None, password=None)

    netloc = parts.netloc
    userinfo, at, hostport = netloc.rpartition("@")
    if "@" in userinfo:
        raise ValueError(f"git_url {shown!r} has more than one '@' before the host")
    if not parts.hostname or hostport.startswith("-"):
        raise ValueError(f"git_url {shown!r} has no host")
    username = password = None
    if at:
        name, colon, secret = userinfo.partition(":")
        # 'https://trusted.example@evil.example/' reads as a host to a person;
        # a user name that looks like a domain and has no password is such a
        # trick far more often than a real login.
        if not colon and "." in name and scheme in ("http", "https"):
            raise ValueError(
                f"git_url {redact_url(value)!r} puts a host-like name before '@'; "
                "write the real host right after '//'"
            )
        username = unquote(name) or None
        password = unquote(secret) if colon else None
    return GitUrl(
        url=value,
        scheme=scheme,
        host=parts.hostname.lower(),
        username=username,
        password=password,
    )


def _mask_userinfo(value: str) -> str:
    """Mask whatever sits between ``//`` and the last ``@`` before the path.

    Works on strings too malformed for :func:`redact_url` to parse, which is
    exactly when an error message quotes them.
    """
    head, sep, rest = value.partition("://")
    if not sep:
        return value
    authority, slash, path = rest.partition("/")
    if "@" not in authority:
        return value
    return f"{head}://***@{authority.rpartition('@')[2]}{slash}{path}"


def check_git_url_shape(value: str) -> str:
    """Pydantic validator form of :func:`parse_git_url`."""
    parse_git_url(value)
    return value


def split_credentials(value: str) -> tuple[str, str | None, str | None]:
    """Return ``(url_without_credentials, username, password)`` for http(s).

    Other schemes come back unchanged with no credentials: an ssh user name
    is part of the address, not a secret.
    """
    parsed = parse_git_url(value)
    if parsed.scheme not in ("http", "https") or (
        not parsed.username and not parsed.password
    ):
        return value, None, None
    parts = urlsplit(value)
    hostport = parts.netloc.rpartition("@")[2]
    clean = urlunsplit(
        (parts.scheme, hostport, parts.path, parts.query, parts.fragment)
    )
    return clean, parsed.username, parsed.password


def redact_url(value: str) -> str:
    """``value`` with any http(s) userinfo replaced by ``***``; safe to show."""
    try:
        parts = urlsplit(value)
    except ValueError:
        return "<unparseable url>"
    if parts.scheme.lower() not in ("http", "https") or "@" not in parts.netloc:
        return value
    hostport = parts.netloc.rpartition("@")[2]
    return urlunsplit(
        (parts.scheme, "***@" + hostport, parts.path, parts.query, parts.fragment)
    )


def owner_and_repo(value: str) -> tuple[str, str] | None:
    """The last two path segments of a git URL (``.git`` dropped), if any.

    Works for every accepted form, local paths included: ``/srv/org/a.git``
    gives ``("org", "a")``. None when the path has fewer than two segments.
    """
    try:
        parse_git_url(value)
    except ValueError:
        return None
    if "://" in value:
        path = unquote(urlsplit(value).path)
    elif value.startswith("/"):
        path = value
    else:
        path = value.partition(":")[2]
    segments = [s for s in path.split("/") if s]
    if len(segments) < 2:
        return None
    repo = segments[-1].removesuffix(".git")
    return (segments[-2], repo) if repo else None
