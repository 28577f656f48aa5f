"""Secrets at rest: authenticated encryption with Fernet (AES-128-CBC + HMAC-SHA256)."""

from __future__ import annotations

import secrets

from cryptography.fernet import Fernet, InvalidToken


class SecretBox:
    def __init__(self, key: str) -> None:
        try:
            self._fernet = Fernet(key.encode())
        except ValueError as exc:
            raise ValueError(
                "ROOMWARDEN_ENCRYPTION_KEY must be 32 url-safe base64-encoded bytes "
                "(generate one with `roomwarden keygen`)"
            ) from exc

    def seal(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode()

    def open(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken as exc:
            raise ValueError("secret cannot be decrypted with the configured key") from exc


def new_enrollment_key() -> str:
    return "rwk_" + secrets.token_urlsafe(32)


def generate_encryption_key() -> str:
    return Fernet.generate_key().decode()
