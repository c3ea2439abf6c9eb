"""Outbound URL validation: tenants and agencies cannot make the service call internal addresses.

Rules (settings, prefix ``STEWARD_``):

* scheme ``https`` (``http`` only with ``WEBHOOK_ALLOW_HTTP=true``); no user info in the URL;
* ``WEBHOOK_DENY_HOSTS`` (comma separated globs) are always refused;
* ``WEBHOOK_ONLY_ALLOWED_HOSTS=true`` refuses every host not in ``WEBHOOK_ALLOW_HOSTS``;
* ``WEBHOOK_DENY_PRIVATE=true`` (default) resolves the host and refuses loopback, private,
  link-local (cloud metadata 169.254.169.254), multicast, reserved and unspecified addresses —
  unless the host matches ``WEBHOOK_ALLOW_HOSTS``.

The check runs when a URL is saved and again right before every send (DNS may change)."""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from fnmatch import fnmatchcase
from urllib.parse import urlsplit

from steward.kit.errors import ValidationFailed
from steward.notify.settings import NotifySettings


class UnsafeUrl(ValidationFailed):
    code = "unsafe_url"


def _matches(host: str, patterns: list[str]) -> bool:
    return any(fnmatchcase(host, p) for p in patterns)


def _is_internal(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return _is_internal(ip.ipv4_mapped)
    return (
        ip.is_loopback
        or ip.is_private
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
        or not ip.is_global
    )


async def _resolve(host: str, port: int) -> list[str]:
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:  # gaierror is an OSError; bad IDNA labels a UnicodeError
        raise UnsafeUrl(f"host {host!r} does not resolve", code="unresolvable_host") from exc
    return sorted({str(info[4][0]) for info in infos})


_HOST_CHARS = re.compile(r"^[a-z0-9.\-_:\[\]%]+$")


def _ascii_host(hostname: str) -> str:
    """The host in ASCII (IDNA/punycode for internationalised names), or :class:`UnsafeUrl`."""
    host = hostname.lower().rstrip(".")
    if not host:
        raise UnsafeUrl("URL has no host")
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
        return host
    except ValueError:
        pass
    try:
        ascii_host = host.encode("idna").decode("ascii")
    except UnicodeError as exc:
        raise UnsafeUrl(f"host {host!r} is not a valid domain name", code="invalid_host") from exc
    if not _HOST_CHARS.fullmatch(ascii_host) or len(ascii_host) > 253 or ".." in ascii_host:
        raise UnsafeUrl(f"host {host!r} is not a valid domain name", code="invalid_host")
    return ascii_host


async def validate_url(url: str, settings: NotifySettings, *, resolve: bool = True) -> str:
    """Return the URL when it may be called; raise :class:`UnsafeUrl` (422) otherwise."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UnsafeUrl(f"not a valid URL: {exc}") from exc
    scheme = parts.scheme.lower()
    if scheme not in ("https", "http"):
        raise UnsafeUrl("webhook URLs must use https", code="scheme_not_allowed")
    if scheme == "http" and not settings.webhook_allow_http:
        raise UnsafeUrl("webhook URLs must use https (http is not enabled here)", code="scheme_not_allowed")
    if parts.username or parts.password:
        raise UnsafeUrl("credentials in the URL are not allowed; use the signing secret")
    host = _ascii_host(parts.hostname or "")
    allowed = _matches(host, settings.allow_hosts)
    if _matches(host, settings.deny_hosts):
        raise UnsafeUrl(f"host {host!r} is denied", code="host_denied")
    if settings.webhook_only_allowed_hosts and not allowed:
        raise UnsafeUrl(f"host {host!r} is not in the allow list", code="host_not_allowed")
    if settings.webhook_deny_private and not allowed:
        try:
            addresses = [host]
            ipaddress.ip_address(host)
        except ValueError:
            if host == "localhost" or host.endswith(".localhost"):
                raise UnsafeUrl(f"host {host!r} is internal", code="internal_address") from None
            addresses = await _resolve(host, port or (443 if scheme == "https" else 80)) if resolve else []
        for address in addresses:
            ip = ipaddress.ip_address(address.split("%", 1)[0])
            if _is_internal(ip):
                raise UnsafeUrl(
                    f"host {host!r} resolves to an internal address ({ip})", code="internal_address"
                )
    return url
