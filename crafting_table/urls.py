"""Git URLs and refs: what is accepted, and how credentials are kept out of sight.

A project's ``git_url`` may carry credentials (``https://user:token@host/``).
They are stored, never shown: :func:`redact_url` is what every answer and
log line uses, and :func:`split_credentials` is how the workspace hands
them to git through the environment instead of the remote URL.

A URL may not point where the service's own fetches must never go: cloud
metadata endpoints and link-local addresses (refused by
:func:`parse_git_url`, literal addresses in any spelling the resolver
accepts, and the well-known metadata names) and the service itself
(:func:`points_at`, which the registration endpoint calls with the
addresses it listens on). Names are not resolved: a name that resolves
to such an address is not caught here.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import PurePosixPath
from urllib.parse import unquote, urlsplit, urlunsplit

SCHEMES = ("https", "http", "ssh", "git", "file")
DEFAULT_PORTS = {"https": 443, "http": 80, "ssh": 22, "git": 9418}
# Where instance metadata (and its credentials) live on the major clouds.
_FORBIDDEN_NETWORKS = tuple(
    ipaddress.ip_network(n)
    for n in (
        "169.254.0.0/16",
        "fe80::/10",
        "fd00:ec2::254/128",
        "100.100.100.200/32",
    )
)
_METADATA_NAMES = frozenset(
    {
        "metadata",
        "metadata.google.internal",
        "metadata.goog",
        "instance-data",
        "instance-data.ec2.internal",
        "metadata.tencentyun.com",
    }
)
_LOCAL_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})
_SCP_LIKE = re.compile(
    r"^(?P<user>[A-Za-z0-9._-]+@)?(?P<host>[A-Za-z0-9.-]+):(?P<path>[^/].*)$"
)
_CONTROL = re.compile(r"[\x00-\x20\x7f]")
_DECODED_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_BAD_REF_CHARS = re.compile(r"[\x00-\x20\x7f~^:?*\[\\]")


@dataclass(frozen=True, slots=True)
class GitUrl:
    """A checked git URL split into what git sees and what it must not."""

    url: str
    scheme: str
    host: str | None
    username: str | None
    password: str | None
    port: int | None = None

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
    ``ext::``, control characters (also percent-encoded), userinfo that
    hides the real host or starts with ``-``, and hosts that are link-local
    or cloud metadata endpoints.
    """
    # Messages quote the URL with any credentials masked: they reach API
    # answers and logs.
    shown = _mask_userinfo(value)
    # What the URL is comes before what it contains: 'ext::sh -c id' is
    # refused for its transport, which is what its author must change; a
    # message about its spaces would send them to quote or encode them.
    if value.startswith("-"):
        raise ValueError(
            f"git_url {shown!r} starts with '-' and would be read as an option"
        )
    transport, helper, _ = value.split("/", 1)[0].partition("::")
    if helper:
        raise ValueError(
            f"git_url {shown!r} uses the '{transport}::' transport, a remote "
            "helper that is not allowed; use an https://, ssh:// or git:// URL"
        )
    if _CONTROL.search(value) or _DECODED_CONTROL.search(unquote(value)):
        raise ValueError(
            f"git_url {shown!r} contains whitespace or a control character"
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
        _check_user(value, user)
        host = _check_host(value, match["host"])
        return GitUrl(url=value, scheme="ssh", host=host, username=user, password=None)

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
        _check_user(value, username)
    try:
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"git_url {redact_url(value)!r} has a bad port") from exc
    return GitUrl(
        url=value,
        scheme=scheme,
        host=_check_host(value, parts.hostname),
        username=username,
        password=password,
        port=port,
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


def _check_user(value: str, user: str | None) -> None:
    # ssh would read 'ssh://-oProxyCommand=...@host/' as an option.
    if user and user.startswith("-"):
        raise ValueError(
            f"git_url {redact_url(value)!r} has a user name starting with '-'"
        )


def literal_address(
    host: str,
) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """``host`` as an address if it is one in any spelling, else None.

    Besides dotted quads, the resolver (and so git) takes ``2852039166``,
    ``0xa9.0xfe.0xa9.0xfe`` or ``0251.0376.0251.0376`` for an IPv4 address;
    an IPv4 address mapped into IPv6 counts as the IPv4 address.
    """
    try:
        address: ipaddress.IPv4Address | ipaddress.IPv6Address = ipaddress.ip_address(
            host.partition("%")[0]
        )
    except ValueError:
        try:
            address = ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return address.ipv4_mapped
    return address


def _check_host(value: str, host: str) -> str:
    name = host.lower().rstrip(".")
    address = literal_address(name)
    forbidden = (
        any(address in network for network in _FORBIDDEN_NETWORKS)
        if address is not None
        else name in _METADATA_NAMES
    )
    if forbidden:
        raise ValueError(
            f"git_url {redact_url(value)!r} points at {host!r}, a link-local or "
            "cloud metadata address; use the address of a git server"
        )
    return name


def points_at(url: GitUrl, service: Iterable[tuple[str, int]]) -> bool:
    """True when ``url`` reaches one of the ``(host, port)`` pairs of this service.

    A pair's host may be a wildcard (``0.0.0.0``, ``::``): then every
    loopback address and local name on that port counts, and the host's
    own name. Loopback and local names count for every port.
    """
    if url.host is None or url.scheme == "file":
        return False
    port = url.port or DEFAULT_PORTS.get(url.scheme)
    target = literal_address(url.host)
    for host, service_port in service:
        if port != service_port:
            continue
        name = host.lower().strip("[]")
        bound = literal_address(name)
        if _is_local(url.host, target) or url.host == name:
            return True
        if target is not None and target == bound:
            return True
        wildcard = bound is not None and bound.is_unspecified
        if wildcard and url.host == socket.gethostname().lower():
            return True
    return False


def _is_local(
    name: str, address: ipaddress.IPv4Address | ipaddress.IPv6Address | None
) -> bool:
    if address is not None:
        return address.is_loopback or address.is_unspecified
    return name in _LOCAL_NAMES or name.endswith(".localhost")


# The placeholders of the example recipes, filled in by register-all.sh.
_PLACEHOLDER = "REPLACE_WITH_"


def check_git_url_shape(value: str) -> str:
    """Pydantic validator form of :func:`parse_git_url`.

    Also refuses a URL that still holds an example's placeholder, which
    would otherwise be stored and only fail at the first fetch.
    """
    if _PLACEHOLDER in value:
        raise ValueError(
            "still holds an example placeholder (REPLACE_WITH_...): put in the "
            "real host and token, or register the examples with "
            "examples/register-all.sh, which does"
        )
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


def repository_uri(git_url: str) -> str | None:
    """``git_url`` as an absolute URI without any user or password, if it has one.

    A local path becomes a ``file://`` URI and the scp-like form
    ``user@host:path`` an ``ssh://`` one; what cannot be read is None.
    """
    if git_url.startswith("/"):
        return PurePosixPath(git_url).as_uri()
    match = _SCP_LIKE.match(git_url)
    if "://" not in git_url and match:
        return f"ssh://{match['host']}/{match['path']}"
    try:
        parts = urlsplit(git_url)
        host = parts.hostname
        port = parts.port
    except ValueError:
        return None
    if not parts.scheme or (host is None and parts.scheme != "file"):
        return None
    netloc = (host or "") + (f":{port}" if port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


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
