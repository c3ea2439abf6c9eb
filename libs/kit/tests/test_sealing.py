"""Secrets at rest (issue 14, point 12): sealed under the first configured key, opened by any
configured key (rotation), legacy plain values read and re-sealed, tampering detected."""

from __future__ import annotations

import pytest

from steward.kit.sealing import SealingError, SecretBox, generate_key
from steward.kit.settings import ServiceSettings


def box(*keys: str, environment: str = "production") -> SecretBox:
    return SecretBox(ServiceSettings(environment=environment, secrets_keys=",".join(keys) or None))


def test_sealed_values_name_their_key_and_hide_the_secret() -> None:
    k1 = generate_key("k1")
    sealed = box(k1).seal("whsec_top-secret")
    assert sealed.startswith("sealed:k1:") and "top-secret" not in sealed
    assert box(k1).open(sealed) == "whsec_top-secret"
    assert box(k1).seal("same") != box(k1).seal("same")  # a fresh IV every time


def test_rotation_new_key_first_old_key_still_opens() -> None:
    k1, k2 = generate_key("k1"), generate_key("k2")
    old = box(k1).seal("s3cret")
    rotated = box(k2, k1)
    assert rotated.open(old) == "s3cret"
    resealed = rotated.reseal(old)
    assert resealed is not None and resealed.startswith("sealed:k2:")
    assert rotated.reseal(resealed) is None  # already under the primary key
    assert box(k2).open(resealed) == "s3cret"  # the old key can now be dropped
    with pytest.raises(SealingError, match="k1"):
        box(k2).open(old)


def test_legacy_plain_values_are_read_and_resealed() -> None:
    k1 = generate_key("k1")
    assert box(k1).open("whsec_plain") == "whsec_plain"
    resealed = box(k1).reseal("whsec_plain")
    assert resealed is not None and box(k1).open(resealed) == "whsec_plain"


def test_tampering_is_detected() -> None:
    k1 = generate_key("k1")
    sealed = box(k1).seal("s3cret")
    forged = sealed[:-6] + ("A" if sealed[-6] != "A" else "B") + sealed[-5:]
    with pytest.raises(SealingError):
        box(k1).open(forged)


def test_keys_are_required_outside_dev_and_validated() -> None:
    with pytest.raises(SealingError, match="STEWARD_SECRETS_KEYS"):
        box()
    with pytest.raises(SealingError):
        box("k1:not-a-fernet-key")
    with pytest.raises(SealingError):
        box(generate_key("k1"), generate_key("k1"))
    dev = box(environment="dev")  # dev/test: a key derived from the dev secret
    assert dev.open(dev.seal("x")) == "x" and dev.primary == "dev"
