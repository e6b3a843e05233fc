"""The codec endpoint the Temporal Web UI calls to show encrypted payloads: POST /encode and /decode.

Bodies are the Web UI's JSON form of payloads, `{"payloads": [{"metadata": {k: base64}, "data": base64}]}`.
Only callers with the bearer token get answers; CORS admits the Web UI's origin so a browser may call it.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable, Sequence

from google.protobuf.json_format import MessageToDict, ParseDict, ParseError
from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route
from temporalio.api.common.v1 import Payload, Payloads
from temporalio.converter import PayloadCodec

from codec.encryption import EncryptionCodec, EncryptionKeyError
from settings import Settings


def create_codec_app(codec: PayloadCodec, auth_token: SecretStr, allowed_origins: list[str]) -> Starlette:
    """An ASGI app answering POST /encode and POST /decode for holders of `auth_token`."""

    def authorized(request: Request) -> bool:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        expected = auth_token.get_secret_value().encode()
        return scheme.lower() == "bearer" and hmac.compare_digest(token.strip().encode(), expected)

    def endpoint(transform: Callable[[Sequence[Payload]], Awaitable[list[Payload]]]) -> Callable[[Request], Awaitable[Response]]:
        async def answer(request: Request) -> Response:
            if not authorized(request):
                return JSONResponse({"error": "missing or invalid bearer token"}, status_code=401)
            try:
                payloads = ParseDict(await request.json(), Payloads())
                converted = await transform(payloads.payloads)
            except (ValueError, ParseError) as error:  # bad JSON, bad shape, unknown key, tampered data
                message = str(error) if isinstance(error, EncryptionKeyError) else "body must be {\"payloads\": [...]}"
                return JSONResponse({"error": message}, status_code=400)
            return JSONResponse(MessageToDict(Payloads(payloads=converted)))

        return answer

    return Starlette(
        routes=[Route("/encode", endpoint(codec.encode), methods=["POST"]), Route("/decode", endpoint(codec.decode), methods=["POST"])],
        middleware=[
            Middleware(
                CORSMiddleware,
                allow_origins=allowed_origins,
                allow_methods=["POST"],
                # The Web UI sends the namespace, and the token when "pass access token" is on.
                allow_headers=["Authorization", "Content-Type", "X-Namespace"],
                allow_credentials=True,
            )
        ],
    )


def codec_mount(settings: Settings) -> Mount | None:
    """`/codec` for the relay app when both PAYLOAD_ENCRYPTION_KEYS and CODEC_AUTH_TOKEN are set, else None.

    Without a token there is no endpoint: decrypting for anyone who asks would undo the encryption.
    """
    if settings.payload_encryption_keys is None or settings.codec_auth_token is None:
        return None
    codec = EncryptionCodec.from_setting(settings.payload_encryption_keys.get_secret_value())
    return Mount("/codec", app=create_codec_app(codec, settings.codec_auth_token, [settings.temporal_ui_url]))
