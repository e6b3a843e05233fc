"""AES-GCM encryption of every Temporal payload, keyed from `PAYLOAD_ENCRYPTION_KEYS`.

The setting lists `key-id:base64-key` pairs, comma separated. The first key encrypts; every key
decrypts, so a new key goes first and the old one stays listed until nothing stored needs it.
Each payload records its key id in its metadata, so the right key is found without trying them all.
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.converter import PayloadCodec

ENCODING = b"binary/encrypted"
KEY_ID_METADATA = "encryption-key-id"
NONCE_BYTES = 12
KEY_BYTES = (16, 24, 32)


class EncryptionKeyError(ValueError):
    """The key setting is malformed, or a payload names a key this process does not have."""


class EncryptionCodec(PayloadCodec):
    """Encrypts each payload (metadata and data) with the first key; decrypts with the key its metadata names."""

    def __init__(self, keys: Sequence[tuple[str, bytes]]) -> None:
        if not keys:
            raise EncryptionKeyError("at least one encryption key is required")
        self._encrypting_key_id = keys[0][0]
        self._ciphers = {key_id: AESGCM(key) for key_id, key in keys}

    @classmethod
    def from_setting(cls, setting: str) -> EncryptionCodec:
        """Parse `kid1:base64key,kid2:base64key` (keys of 16, 24 or 32 bytes)."""
        keys: list[tuple[str, bytes]] = []
        for entry in filter(None, (part.strip() for part in setting.split(","))):
            key_id, separator, encoded = entry.partition(":")
            if not separator or not key_id.strip():
                raise EncryptionKeyError("PAYLOAD_ENCRYPTION_KEYS entries must look like key-id:base64-key")
            try:
                key = base64.b64decode(encoded.strip(), validate=True)
            except binascii.Error:
                raise EncryptionKeyError(f"PAYLOAD_ENCRYPTION_KEYS: key {key_id.strip()!r} is not valid base64") from None
            if len(key) not in KEY_BYTES:
                raise EncryptionKeyError(
                    f"PAYLOAD_ENCRYPTION_KEYS: key {key_id.strip()!r} has {len(key)} bytes; AES needs 16, 24 or 32"
                )
            keys.append((key_id.strip(), key))
        if len({key_id for key_id, _ in keys}) != len(keys):
            raise EncryptionKeyError("PAYLOAD_ENCRYPTION_KEYS: key ids must be unique")
        return cls(keys)

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.encrypt(payload) for payload in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.decrypt(payload) for payload in payloads]

    def encrypt(self, payload: Payload) -> Payload:
        key_id = self._encrypting_key_id
        nonce = os.urandom(NONCE_BYTES)
        # The key id is authenticated too, so a payload cannot be relabelled to another key.
        sealed = self._ciphers[key_id].encrypt(nonce, payload.SerializeToString(), key_id.encode())
        return Payload(metadata={"encoding": ENCODING, KEY_ID_METADATA: key_id.encode()}, data=nonce + sealed)

    def decrypt(self, payload: Payload) -> Payload:
        """The original payload; one that was never encrypted (written before encryption was on) passes through."""
        if payload.metadata.get("encoding") != ENCODING:
            return payload
        key_id = payload.metadata.get(KEY_ID_METADATA, b"").decode()
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            raise EncryptionKeyError(f"payload encrypted with key {key_id!r}, which is not in PAYLOAD_ENCRYPTION_KEYS")
        try:
            plain = cipher.decrypt(payload.data[:NONCE_BYTES], payload.data[NONCE_BYTES:], key_id.encode())
        except InvalidTag:
            raise EncryptionKeyError(f"payload does not decrypt with key {key_id!r}: wrong key or tampered data") from None
        return Payload.FromString(plain)
