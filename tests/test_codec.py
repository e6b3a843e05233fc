"""Payload encryption: ciphertext in Temporal's store, plaintext for the worker, starter, relay and Web UI.

A whole task runs with PAYLOAD_ENCRYPTION_KEYS set; its history read by a client without the codec
shows no title, prompt or PR; the /codec/decode endpoint (the Web UI's path) gives them back.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import AsyncExitStack

import httpx
import pytest
from google.protobuf.json_format import MessageToDict
from google.protobuf.message import Message
from pydantic import SecretStr
from temporalio.api.common.v1 import Payload
from temporalio.api.history.v1 import MarkerRecordedEventAttributes
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

import temporal_client
from codec.encryption import ENCODING, KEY_ID_METADATA, EncryptionCodec, EncryptionKeyError
from devstack import ROOT
from devstack.env import clean_env
from models.status import TaskOutcome, TaskStatus
from settings import Settings
from tests.relay_probe import serving
from webhooks.app import create_app
from worker import running_workers
from workflows.calls import LOCAL_ACTIVITY_MARKER

# How the SDK records `workflow.patched` in history.
PATCH_MARKER = "core_patch"

UI_ORIGIN = "http://localhost:8233"


def new_key(key_id: str) -> str:
    return f"{key_id}:{base64.b64encode(os.urandom(32)).decode()}"


def json_payload(value: object) -> Payload:
    return Payload(metadata={"encoding": b"json/plain"}, data=json.dumps(value).encode())


async def test_encrypted_payloads_carry_their_key_id_and_hide_the_data():
    codec = EncryptionCodec.from_setting(new_key("k1"))
    [sealed] = await codec.encode([json_payload({"title": "Rotate the launch codes"})])
    assert sealed.metadata["encoding"] == ENCODING and sealed.metadata[KEY_ID_METADATA] == b"k1"
    assert b"launch" not in sealed.SerializeToString()
    assert await codec.decode([sealed]) == [json_payload({"title": "Rotate the launch codes"})]


async def test_rotation_new_key_encrypts_old_key_still_decrypts():
    old, new = new_key("2025"), new_key("2026")
    [written_before] = await EncryptionCodec.from_setting(old).encode([json_payload("before")])
    rotated = EncryptionCodec.from_setting(f"{new},{old}")
    [written_after] = await rotated.encode([json_payload("after")])
    assert written_after.metadata[KEY_ID_METADATA] == b"2026"
    assert await rotated.decode([written_before, written_after]) == [json_payload("before"), json_payload("after")]
    # Dropping the old key too early is an error that names it, not garbage.
    with pytest.raises(EncryptionKeyError, match="2025"):
        await EncryptionCodec.from_setting(new).decode([written_before])


async def test_tampered_or_relabelled_payloads_are_refused_and_plain_ones_pass():
    codec = EncryptionCodec.from_setting(f"{new_key('a')},{new_key('b')}")
    [sealed] = await codec.encode([json_payload(1)])
    relabelled = Payload(metadata={**sealed.metadata, KEY_ID_METADATA: b"b"}, data=sealed.data)
    flipped = Payload(metadata=sealed.metadata, data=sealed.data[:-1] + bytes([sealed.data[-1] ^ 1]))
    for bad in (relabelled, flipped):
        with pytest.raises(EncryptionKeyError):
            await codec.decode([bad])
    # History written before encryption was switched on still reads.
    assert await codec.decode([json_payload("plain")]) == [json_payload("plain")]


@pytest.mark.parametrize(
    "setting",
    ["nocolon", ":AAAA", "k:not-base64!", f"k:{base64.b64encode(b'short').decode()}", f"{new_key('k')},{new_key('k')}"],
    # Fixed names: the last setting's keys are new each collection, and parallel workers must collect alike.
    ids=["no colon", "no key id", "not base64", "short key", "key id twice"],
)
def test_malformed_key_settings_are_refused(setting: str):
    with pytest.raises(EncryptionKeyError):
        EncryptionCodec.from_setting(setting)


def _payloads_in(message: Message) -> Iterator[Payload]:
    """Every payload inside a history event, except search attributes (visibility indexes them in plain
    text), a local activity marker's bookkeeping (the SDK's own: sequence, attempt, activity type, times)
    and a patch marker's id."""
    if isinstance(message, Payload):
        yield message
        return
    for field, value in message.ListFields():
        if field.type != field.TYPE_MESSAGE or field.name == "search_attributes":
            continue
        if field.message_type.GetOptions().map_entry:
            items = [item for key, item in value.items() if not _local_activity_bookkeeping(message, key)]
        elif field.is_repeated:
            items = list(value)
        else:
            items = [value]
        for item in items:
            if isinstance(item, Message):
                yield from _payloads_in(item)


def _local_activity_bookkeeping(message: Message, key: str) -> bool:
    if not isinstance(message, MarkerRecordedEventAttributes):
        return False
    # A patch marker's details are the patch id (`workflow.patched`), written by the SDK's core itself.
    return (message.marker_name == LOCAL_ACTIVITY_MARKER and key == "data") or message.marker_name == PATCH_MARKER


async def test_a_task_run_encrypted_stores_only_ciphertext_and_the_codec_endpoint_decodes_it(
    dev_env: WorkflowEnvironment, task_queue: str
):
    keys, token, secret = f"{new_key('current')},{new_key('previous')}", uuid.uuid4().hex, uuid.uuid4().hex
    title = f"Encrypt the crown jewels {uuid.uuid4().hex[:8]}"
    address = dev_env.client.service_client.config.target_host
    settings = Settings(
        temporal_address=address,
        task_queue=task_queue,
        payload_encryption_keys=SecretStr(keys),
        codec_auth_token=SecretStr(token),
        webhook_secret=SecretStr(secret),
    )
    encrypted = await temporal_client.connect(settings)
    async with AsyncExitStack() as stack:
        relay_app = create_app(settings, encrypted)
        relay_url = await stack.enter_async_context(serving(relay_app))
        await stack.enter_async_context(running_workers(encrypted, settings.model_copy(update={"relay_url": relay_url})))
        task_id = f"enc-{uuid.uuid4().hex[:8]}"
        handle = await encrypted.start_workflow(
            "CodegenTaskWorkflow",
            {"task": {"id": task_id, "title": title, "type": "feature"}, "context": {"repository": "acme/api"}},
            id=f"codegen-task-{task_id}",
            task_queue=task_queue,
            result_type=TaskOutcome,
        )
        outcome = await handle.result()
        status = await handle.query("status", result_type=TaskStatus)

        # Temporal's own view, without the codec: every payload is ciphertext under the current key.
        plain_client: Client = dev_env.client
        history = await plain_client.get_workflow_handle(handle.id).fetch_history()
        stored = [payload for event in history.events for payload in _payloads_in(event)]
        starter = subprocess.run(
            [sys.executable, "starter.py", "status", task_id, "--json"],
            cwd=ROOT, env=clean_env(TEMPORAL_ADDRESS=address, PAYLOAD_ENCRYPTION_KEYS=keys), capture_output=True, text=True, timeout=60,
        )

        web_ui = httpx.AsyncClient(transport=httpx.ASGITransport(app=relay_app), base_url="http://relay.test")
        async with web_ui:
            body = {"payloads": [MessageToDict(payload) for payload in stored]}
            auth = {"Authorization": f"Bearer {token}", "Origin": UI_ORIGIN, "X-Namespace": "default"}
            decoded = await web_ui.post("/codec/decode", json=body, headers=auth)
            refused = await web_ui.post("/codec/decode", json=body, headers={"Authorization": "Bearer wrong"})
            anonymous = await web_ui.post("/codec/decode", json=body)
            preflight = await web_ui.options(
                "/codec/decode",
                headers={"Origin": UI_ORIGIN, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization,content-type,x-namespace"},
            )
            elsewhere = await web_ui.options(
                "/codec/decode", headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"}
            )
            round_trip = await web_ui.post(
                "/codec/encode", json={"payloads": [MessageToDict(json_payload("hello"))]}, headers=auth
            )

    assert outcome.status == "merged" and status.title == title
    assert len(stored) > 10 and all(
        p.metadata["encoding"] == ENCODING and p.metadata[KEY_ID_METADATA] == b"current" for p in stored
    )
    raw = b"".join(event.SerializeToString() for event in history.events)
    for plaintext in (title, "agent/trace", "head_branch_name"):
        assert plaintext.encode() not in raw, plaintext
    # The command line decrypts with the same setting.
    assert starter.returncode == 0 and title in starter.stdout, starter.stderr

    assert decoded.status_code == 200, decoded.text
    assert decoded.headers["access-control-allow-origin"] == UI_ORIGIN
    texts = [base64.b64decode(p["data"]) for p in decoded.json()["payloads"]]
    assert any(title.encode() in text for text in texts)
    assert (refused.status_code, anonymous.status_code) == (401, 401)
    assert preflight.status_code == 200 and preflight.headers["access-control-allow-origin"] == UI_ORIGIN
    assert "access-control-allow-origin" not in elsewhere.headers
    [sealed] = round_trip.json()["payloads"]
    assert base64.b64decode(sealed["metadata"]["encoding"]) == ENCODING


async def test_no_codec_endpoint_without_a_token(client: Client):
    settings = Settings(webhook_secret=SecretStr("s"), payload_encryption_keys=SecretStr(new_key("k")))
    app = create_app(settings, client)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://relay.test") as http:
        assert (await http.post("/codec/decode", json={"payloads": []})).status_code == 404
