"""Secrets at rest (webhook signing secrets, robot secrets): sealed with Fernet (AES-128-CBC +
HMAC-SHA256) under a key from ``STEWARD_SECRETS_KEYS``, stored as ``sealed:<key id>:<token>``.

``STEWARD_SECRETS_KEYS`` is ``kid:key,kid:key`` (``key`` = ``Fernet.generate_key()``): the first key
seals, every listed key opens, so a key is rotated by putting a new one first, re-sealing
(:meth:`SecretBox.reseal` tells what needs it) and dropping the old one later. In dev and test,
without keys, a key derived from the dev JWT secret is used; elsewhere a service that seals refuses
to start without keys. Values without the ``sealed:`` prefix (written before sealing existed) are
read as they are and re-sealed by :meth:`SecretBox.reseal`.
"""

from __future__ import annotations

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken

from steward.kit.settings import ServiceSettings

PREFIX = "sealed:"


class SealingError(RuntimeError):
    pass


def generate_key(kid: str) -> str:
    """A new ``kid:key`` entry for ``STEWARD_SECRETS_KEYS``."""
    return f"{kid}:{Fernet.generate_key().decode()}"


class SecretBox:
    def __init__(self, settings: ServiceSettings) -> None:
        self.keys: dict[str, Fernet] = {}
        raw = settings.secrets_keys.get_secret_value() if settings.secrets_keys else ""
        for entry in (e.strip() for e in raw.split(",")):
            if not entry:
                continue
            kid, sep, key = entry.partition(":")
            if not sep or not kid or kid in self.keys:
                raise SealingError("STEWARD_SECRETS_KEYS must be 'kid:key,kid:key' with distinct key ids")
            try:
                self.keys[kid] = Fernet(key.encode())
            except ValueError as exc:
                raise SealingError(f"secrets key {kid!r} is not a Fernet key") from exc
        if not self.keys:
            if not settings.is_dev:
                raise SealingError("set STEWARD_SECRETS_KEYS (kid:key; see steward.kit.sealing)")
            seed = (
                settings.jwt_dev_secret.get_secret_value() if settings.jwt_dev_secret else ""
            ) + "|sealing"
            self.keys["dev"] = Fernet(base64.urlsafe_b64encode(hashlib.sha256(seed.encode()).digest()))
        self.primary = next(iter(self.keys))

    def seal(self, plain: str) -> str:
        token = self.keys[self.primary].encrypt(plain.encode()).decode()
        return f"{PREFIX}{self.primary}:{token}"

    def open(self, stored: str) -> str:
        if not stored.startswith(PREFIX):
            return stored  # written before sealing: re-sealed by reseal()
        kid, _, token = stored[len(PREFIX) :].partition(":")
        key = self.keys.get(kid)
        if key is None:
            raise SealingError(f"secret sealed with key {kid!r}, which is not configured")
        try:
            return key.decrypt(token.encode()).decode()
        except InvalidToken as exc:
            raise SealingError(f"secret sealed with key {kid!r} does not open (tampered?)") from exc

    def open_optional(self, stored: str | None) -> str | None:
        return None if stored is None else self.open(stored)

    def seal_optional(self, plain: str | None) -> str | None:
        return None if plain is None else self.seal(plain)

    def reseal(self, stored: str) -> str | None:
        """The value sealed under the primary key, or None when it already is."""
        if stored.startswith(f"{PREFIX}{self.primary}:"):
            return None
        return self.seal(self.open(stored))


_BOX: list[SecretBox] = []


def configure(settings: ServiceSettings) -> SecretBox:
    """The process's box (a service that stores secrets calls this in ``build``; without keys
    outside dev/test it fails there, at start, rather than at the first secret)."""
    box = SecretBox(settings)
    _BOX[:] = [box]
    return box


def box() -> SecretBox:
    if not _BOX:
        configure(ServiceSettings())
    return _BOX[0]
