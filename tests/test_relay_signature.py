"""X-Hub-Signature-256 verification: GitHub's documented test vector, rotation and the ways it must fail."""

from __future__ import annotations

from pydantic import SecretStr

from webhooks.signature import sign, verify

# From GitHub's "Validating webhook deliveries" (Testing the webhook payload validation).
DOC_SECRET = "It's a Secret to Everybody"
DOC_PAYLOAD = b"Hello, World!"
DOC_SIGNATURE = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"


def test_github_documented_test_vector() -> None:
    assert sign(DOC_SECRET, DOC_PAYLOAD) == DOC_SIGNATURE
    assert verify(DOC_PAYLOAD, DOC_SIGNATURE, [SecretStr(DOC_SECRET), None])


def test_previous_secret_is_accepted_during_rotation() -> None:
    current, previous = SecretStr("new-secret"), SecretStr(DOC_SECRET)
    assert verify(DOC_PAYLOAD, DOC_SIGNATURE, [current, previous])
    assert verify(DOC_PAYLOAD, sign(current, DOC_PAYLOAD), [current, previous])


def test_stale_secret_is_refused_once_rotation_is_over() -> None:
    assert not verify(DOC_PAYLOAD, DOC_SIGNATURE, [SecretStr("new-secret"), None])


def test_signature_must_cover_the_exact_body() -> None:
    assert not verify(b"Hello, World!\n", DOC_SIGNATURE, [SecretStr(DOC_SECRET)])
    assert not verify(b"Hello, World", DOC_SIGNATURE, [SecretStr(DOC_SECRET)])


def test_missing_or_misshapen_headers_are_refused() -> None:
    secrets = [SecretStr(DOC_SECRET)]
    bare_hex = DOC_SIGNATURE.removeprefix("sha256=")
    for header in (None, "", bare_hex, "sha1=" + bare_hex, DOC_SIGNATURE.upper(), DOC_SIGNATURE + " "):
        assert not verify(DOC_PAYLOAD, header, secrets), header


def test_no_configured_secret_verifies_nothing() -> None:
    assert not verify(DOC_PAYLOAD, DOC_SIGNATURE, [None, None])
