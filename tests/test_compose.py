"""The docker-compose stack, checked without a Docker engine.

No engine runs where these tests run, so the stack is never started here. What can be checked
is: the files parse, images are pinned, every variable the stack passes is one the code reads
(and .env.example lists them all), dependencies and ports are consistent, the Dockerfile
installs the project as `make` does, the healthcheck commands work, and the setup script
creates the namespace and search attributes on a real Temporal server, twice over.
"""

from __future__ import annotations

import asyncio
import fnmatch
import http.server
import os
import re
import socket
import subprocess
import sys
import threading
import tomllib
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest
import yaml
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.client import Client

from devstack import ROOT, temporal_server
from models import names
from settings import Settings

COMPOSE_TEXT = (ROOT / "docker-compose.yml").read_text()
DOCKERFILE = (ROOT / "Dockerfile").read_text()
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())

APP_SERVICES = ("worker", "relay")
DEPENDS_ON_CONDITIONS = {"service_started", "service_healthy", "service_completed_successfully"}
# Enough for the compose file to interpolate: the one required variable.
MINIMAL_ENV = {"WEBHOOK_SECRET": "compose-test-secret"}


# --- Compose interpolation (the subset the file uses: $$, ${X}, ${X:-d}, ${X-d}, ${X:?m}, nested) ---


class MissingVariable(Exception):
    """A `${X:?message}` variable was unset or empty."""


def interpolate(text: str, env: Mapping[str, str]) -> str:
    """Resolve compose variable references in `text` the way `docker compose` does."""
    resolved, end = _interpolate_until(text, 0, env, stop=None)
    assert end == len(text)
    return resolved


def _interpolate_until(text: str, i: int, env: Mapping[str, str], stop: str | None) -> tuple[str, int]:
    out: list[str] = []
    while i < len(text):
        if stop is not None and text[i] == stop:
            return "".join(out), i
        if text.startswith("$$", i):
            out.append("$")
            i += 2
        elif text.startswith("${", i):
            value, i = _substitute(text, i + 2, env)
            out.append(value)
        else:
            out.append(text[i])
            i += 1
    assert stop is None, f"unclosed ${{ in {text!r}"
    return "".join(out), i


def _substitute(text: str, i: int, env: Mapping[str, str]) -> tuple[str, int]:
    name = re.match(r"[A-Za-z_][A-Za-z0-9_]*", text[i:]).group(0)
    i += len(name)
    operator = re.match(r":-|-|:\?|\?|", text[i:]).group(0)
    i += len(operator)
    argument, i = _interpolate_until(text, i, env, stop="}")
    value = env.get(name)
    empty_counts_as_unset = operator.startswith(":")
    missing = value is None or (empty_counts_as_unset and value == "")
    if operator in (":-", "-"):
        return (argument if missing else value), i + 1
    if operator in (":?", "?"):
        if missing:
            raise MissingVariable(f"{name}: {argument}")
        return value, i + 1
    return (value or ""), i + 1


def _interpolate_values(node: object, env: Mapping[str, str]) -> object:
    # Compose interpolates values after parsing YAML, so "${X:-}" stays an empty string.
    if isinstance(node, dict):
        return {key: _interpolate_values(value, env) for key, value in node.items()}
    if isinstance(node, list):
        return [_interpolate_values(item, env) for item in node]
    return interpolate(node, env) if isinstance(node, str) else node


def load_compose(env: Mapping[str, str] = MINIMAL_ENV) -> dict:
    return _interpolate_values(yaml.safe_load(COMPOSE_TEXT), env)


# --- What the code reads ---


class _RecordingEnv(dict[str, str]):
    """An empty environment that remembers every name looked up in it."""

    def __init__(self) -> None:
        super().__init__()
        self.read: set[str] = set()

    def get(self, name: str, default: str | None = None) -> str | None:
        self.read.add(name)
        return super().get(name, default)


def settings_variables() -> set[str]:
    """Every variable Settings.from_env reads, observed by letting it read a recording environment."""
    env = _RecordingEnv()
    Settings.from_env(env)
    return env.read


def fake_variables() -> set[str]:
    """Every variable the fakes read, observed the same way."""
    fake_config = pytest.importorskip("fakes.config", reason="the fakes package is not written yet")
    env = _RecordingEnv()
    fake_config.FakeConfig.from_env(env)
    return env.read


def env_example_variables() -> set[str]:
    lines = (ROOT / ".env.example").read_text().splitlines()
    return {line.split("=", 1)[0] for line in lines if re.match(r"[A-Z][A-Z0-9_]*=", line)}


def compose_referenced_variables() -> set[str]:
    return set(re.findall(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)", COMPOSE_TEXT))


def test_settings_variables_are_observed() -> None:
    # Guards the recording: the checks below must not pass vacuously.
    expected_some = {"TEMPORAL_ADDRESS", "CODEGEN_API_KEY", "WEBHOOK_SECRET", "ALLOWED_REPOSITORIES"}
    assert expected_some <= settings_variables()
    source = (ROOT / "settings.py").read_text()
    assert settings_variables() == set(re.findall(r'_(?:text|secret|csv|number|flag|port|count|repository_limits)\(env,\s*"([A-Z0-9_]+)"', source))


# --- The file and its services ---


def test_compose_parses_into_the_expected_services() -> None:
    services = load_compose()["services"]
    assert set(services) == {
        "postgresql", "temporal-schema", "temporal", "temporal-ui", "setup", "worker", "relay", "fakes",
    }
    profiled = {name: spec["profiles"] for name, spec in services.items() if "profiles" in spec}
    assert profiled == {"fakes": ["mock"]}


def test_every_image_is_pinned() -> None:
    for name, spec in load_compose()["services"].items():
        image = spec["image"]
        repository, _, tag = image.rpartition(":")
        assert repository and tag, f"{name}: {image} has no tag"
        assert tag != "latest", f"{name}: {image} is not pinned"
        if "build" not in spec:
            assert re.match(r"\d+\.\d+", tag), f"{name}: {image} is not pinned to a version"


def test_app_services_pass_exactly_the_settings_the_code_reads() -> None:
    services = load_compose()["services"]
    for name in APP_SERVICES:
        assert set(services[name]["environment"]) == settings_variables(), name


def test_fakes_service_passes_exactly_the_variables_the_fake_reads() -> None:
    environment = load_compose()["services"]["fakes"]["environment"]
    assert {"FAKE_HOST", "FAKE_PORT", "RELAY_URL", "WEBHOOK_SECRET", "FAKE_RUN_SECONDS", "FAKE_GITHUB_RATE_503"} <= fake_variables()
    assert set(environment) == fake_variables()


def test_fake_knobs_left_empty_mean_the_fakes_defaults_and_set_ones_reach_it() -> None:
    fake_config = pytest.importorskip("fakes.config")
    defaults = load_compose()["services"]["fakes"]["environment"]
    assert fake_config.FakeConfig.from_env(defaults).run_seconds == fake_config.FakeConfig().run_seconds
    tuned = load_compose(MINIMAL_ENV | {"FAKE_RUN_SECONDS": "7", "FAKE_WEBHOOK_DROP_RATE": "0.25"})["services"]["fakes"]["environment"]
    config = fake_config.FakeConfig.from_env(tuned)
    assert (config.run_seconds, config.webhook_drop_rate) == (7.0, 0.25)


def test_env_example_lists_every_variable_and_nothing_else() -> None:
    listed = env_example_variables()
    assert settings_variables() <= listed
    assert compose_referenced_variables() <= listed
    # COMPOSE_PROFILES is read by compose itself rather than interpolated.
    assert listed - compose_referenced_variables() == {"COMPOSE_PROFILES"}


def test_webhook_secret_is_required() -> None:
    uses = re.findall(r"\$\{WEBHOOK_SECRET(\W\W?)", COMPOSE_TEXT)
    assert uses and set(uses) == {":?"}
    with pytest.raises(MissingVariable, match="WEBHOOK_SECRET"):
        load_compose({})


def test_stack_defaults_give_mock_mode_settings_inside_the_stack() -> None:
    environment = load_compose()["services"]["worker"]["environment"]
    settings = Settings.from_env(environment)
    assert settings.temporal_address == "temporal:7233"
    assert settings.relay_host == "0.0.0.0"
    assert settings.relay_url == "http://relay:8787/webhooks/github"
    assert settings.temporal_ui_url == "http://localhost:8080"
    # Empty values fall back to the code's defaults instead of becoming "explicit" settings.
    assert settings.mock_mode and not settings.codegen_api_url_explicit
    # Nothing configured: mock mode, not a deployment that lost its key.
    assert settings.production_settings() == [] and settings.mock_mode_refusal() is None
    assert settings.codegen_api_url == "https://api.codegen.com"
    assert settings.github_api_url == "https://api.github.com"


def test_mock_profile_urls_reach_the_fakes_service() -> None:
    fakes_url = {"CODEGEN_API_URL": "http://fakes:8900", "GITHUB_API_URL": "http://fakes:8900"}
    services = load_compose(MINIMAL_ENV | fakes_url)
    settings = Settings.from_env(services["services"]["worker"]["environment"])
    fake_port = services["services"]["fakes"]["environment"]["FAKE_PORT"]
    assert settings.codegen_api_url_explicit
    assert settings.codegen_api_url == settings.github_api_url == f"http://fakes:{fake_port}"
    # Another host than this machine's: without CODEGEN_MOCK=1 a keyless worker refuses to start.
    refusal = settings.mock_mode_refusal()
    assert refusal is not None and "CODEGEN_MOCK=1" in refusal
    on_purpose = Settings.from_env(load_compose(MINIMAL_ENV | fakes_url | {"CODEGEN_MOCK": "1"})["services"]["worker"]["environment"])
    assert on_purpose.mock_mode and on_purpose.mock_mode_refusal() is None


def test_a_real_deployment_without_its_key_is_refused_not_mocked() -> None:
    real = {"CODEGEN_API_KEY": "cg-key", "CODEGEN_ORG_ID": "42", "GITHUB_TOKEN": "ghp_x"}
    worker = load_compose(MINIMAL_ENV | real)["services"]["worker"]["environment"]
    assert not Settings.from_env(worker).mock_mode
    lost_key = load_compose(MINIMAL_ENV | real | {"CODEGEN_API_KEY": ""})["services"]["worker"]["environment"]
    refusal = Settings.from_env(lost_key).mock_mode_refusal()
    assert refusal is not None and "GITHUB_TOKEN" in refusal and "CODEGEN_ORG_ID" in refusal


# --- The Temporal server: the dev server's versions and dynamic config ---


def _dev_server_versions() -> dict[str, str]:
    """{"Server": "1.32.0", "UI": "2.54.1"} from `temporal --version` (the CLI that `make dev-server` runs)."""
    output = subprocess.run([temporal_server.temporal_cli_path(), "--version"], capture_output=True, text=True, timeout=20).stdout
    return dict(re.findall(r"(Server|UI) (\d+\.\d+\.\d+)", output))


def test_compose_runs_the_dev_server_s_temporal_and_ui_versions() -> None:
    versions = _dev_server_versions()
    assert set(versions) == {"Server", "UI"}
    services = load_compose()["services"]
    tags = {name: services[name]["image"].rpartition(":")[2] for name in ("temporal", "temporal-schema", "setup", "temporal-ui")}
    # The schema tool comes with the server's release: its schema is the one that server expects.
    assert tags == {"temporal": versions["Server"], "temporal-schema": versions["Server"], "setup": versions["Server"], "temporal-ui": versions["UI"]}


def test_compose_server_reads_the_dev_server_s_dynamic_config() -> None:
    temporal = load_compose()["services"]["temporal"]
    path = temporal["environment"]["DYNAMIC_CONFIG_FILE_PATH"]
    mounted = {target: source for source, target, *_ in (volume.split(":") for volume in temporal["volumes"])}
    config = yaml.safe_load((ROOT / mounted[path]).read_text())
    assert {key: [entry["value"] for entry in entries] for key, entries in config.items()} == {
        key: [value] for key, value in temporal_server.DYNAMIC_CONFIG.items()
    }
    assert config["matching.enableFairness"] == [{"value": True}]


# --- Dependencies and ports ---


def _depends_on(spec: dict) -> dict[str, str]:
    depends_on = spec.get("depends_on", {})
    if isinstance(depends_on, list):
        return dict.fromkeys(depends_on, "service_started")
    return {target: options["condition"] for target, options in depends_on.items()}


def test_dependencies_exist_are_valid_and_acyclic() -> None:
    services = load_compose()["services"]
    for name, spec in services.items():
        for target, condition in _depends_on(spec).items():
            assert target in services, f"{name} depends on unknown {target}"
            assert condition in DEPENDS_ON_CONDITIONS, f"{name}: {condition}"
            if condition == "service_healthy":
                assert "healthcheck" in services[target], f"{name} waits for {target}'s missing healthcheck"
            if condition == "service_completed_successfully":
                assert "restart" not in services[target], f"{target} is one-shot: it must not restart"
            # A service that always starts cannot wait for one only a profile starts.
            assert "profiles" not in services[target] or "profiles" in spec, f"{name} -> {target}"
    started: set[str] = set()
    while len(started) < len(services):
        waiting = set(services) - started
        ready = {name for name in waiting if set(_depends_on(services[name])) <= started}
        assert ready, f"dependency cycle among {set(services) - started}"
        started |= ready


def test_app_waits_for_setup_and_setup_waits_for_a_healthy_temporal() -> None:
    services = load_compose()["services"]
    for name in APP_SERVICES:
        assert _depends_on(services[name])["setup"] == "service_completed_successfully"
    assert _depends_on(services["setup"]) == {"temporal": "service_healthy"}
    assert _depends_on(services["temporal"]) == {"temporal-schema": "service_completed_successfully"}
    assert _depends_on(services["temporal-schema"]) == {"postgresql": "service_healthy"}


def _published_ports(services: dict) -> dict[str, str]:
    published: dict[str, str] = {}
    for name, spec in services.items():
        for mapping in spec.get("ports", []):
            host, container = str(mapping).rsplit(":", 1)
            host_port = host.rsplit(":", 1)[-1]
            assert host_port not in published, f"{name} and {published.get(host_port)} publish {host_port}"
            published[host_port] = name
    return published


def test_published_ports_do_not_collide() -> None:
    published = _published_ports(load_compose()["services"])
    assert published == {"7233": "temporal", "8080": "temporal-ui", "8787": "relay"}


def test_relay_port_follows_relay_port_everywhere() -> None:
    services = load_compose(MINIMAL_ENV | {"RELAY_PORT": "9123"})["services"]
    assert services["relay"]["ports"] == ["9123:9123"]
    for name in (*APP_SERVICES, "fakes"):
        assert services[name]["environment"]["RELAY_URL"] == "http://relay:9123/webhooks/github", name
    assert services["relay"]["environment"]["RELAY_PORT"] == "9123"


# --- Healthchecks, run for real against loopback servers ---


def _healthcheck(service: str) -> list[str]:
    test = load_compose()["services"][service]["healthcheck"]["test"]
    assert test[0] == "CMD" and test[1] == "python"
    return [sys.executable, *test[2:]]


class _HealthzHandler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200 if self.path == "/healthz" else 404)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def healthz_server() -> Iterator[int]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _HealthzHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def _unused_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_relay_healthcheck_passes_on_healthz_and_fails_when_down(healthz_server: int) -> None:
    command = _healthcheck("relay")
    up = subprocess.run(command, env={"RELAY_PORT": str(healthz_server)}, capture_output=True, timeout=20)
    down = subprocess.run(command, env={"RELAY_PORT": str(_unused_port())}, capture_output=True, timeout=20)
    assert up.returncode == 0, up.stderr
    assert down.returncode != 0


def test_fakes_healthcheck_passes_when_listening_and_fails_when_down() -> None:
    command = _healthcheck("fakes")
    with socket.create_server(("127.0.0.1", 0)) as listening:
        port = listening.getsockname()[1]
        up = subprocess.run(command, env={"FAKE_PORT": str(port)}, capture_output=True, timeout=20)
    down = subprocess.run(command, env={"FAKE_PORT": str(_unused_port())}, capture_output=True, timeout=20)
    assert up.returncode == 0, up.stderr
    assert down.returncode != 0


async def test_relay_starts_with_the_stack_environment_and_passes_its_healthcheck(client: Client) -> None:
    relay = load_compose(MINIMAL_ENV | {"RELAY_PORT": str(_unused_port())})["services"]["relay"]
    env = {**relay["environment"], "TEMPORAL_ADDRESS": client.service_client.config.target_host}
    process = await asyncio.create_subprocess_exec(
        sys.executable, *relay["command"][1:], cwd=ROOT, env=env,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )
    try:
        deadline = asyncio.get_running_loop().time() + 30
        while True:
            check = await asyncio.create_subprocess_exec(*_healthcheck("relay"), env=env)
            if await check.wait() == 0:
                break
            assert process.returncode is None, (await process.stderr.read()).decode()
            assert asyncio.get_running_loop().time() < deadline, "relay never became healthy"
            await asyncio.sleep(0.2)
    finally:
        process.terminate()
        await process.wait()


# --- The setup service ---


def test_setup_creates_exactly_the_project_search_attributes() -> None:
    setup = load_compose()["services"]["setup"]
    assert setup["environment"]["SEARCH_ATTRIBUTES"].split() == [key.name for key in names.SEARCH_ATTRIBUTES]
    script = setup["command"][0]
    assert 'for name in $SEARCH_ATTRIBUTES' in script
    assert '--type Keyword' in script


async def _run_setup(address: str, namespace: str) -> str:
    setup = load_compose()["services"]["setup"]
    env = {
        "PATH": f"{Path(temporal_server.temporal_cli_path()).parent}{os.pathsep}{os.environ['PATH']}",
        **{name: str(value) for name, value in setup["environment"].items()},
        "TEMPORAL_ADDRESS": address,
        "TEMPORAL_NAMESPACE": namespace,
    }
    process = await asyncio.create_subprocess_exec(
        "sh", "-c", setup["command"][0], env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), timeout=90)
    assert process.returncode == 0, output.decode()
    return output.decode()


async def test_setup_script_creates_namespace_and_attributes_idempotently(client: Client) -> None:
    namespace = f"compose-setup-{uuid.uuid4().hex[:8]}"
    address = client.service_client.config.target_host
    await _run_setup(address, namespace)
    second = await _run_setup(address, namespace)

    attribute_names = [key.name for key in names.SEARCH_ATTRIBUTES]
    assert all(f"search attribute {name} already exists" in second for name in attribute_names), second
    request = ListSearchAttributesRequest(namespace=namespace)
    listed = await client.operator_service.list_search_attributes(request)
    keyword = IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD
    assert {name for name, kind in listed.custom_attributes.items() if kind == keyword} >= set(attribute_names)


# --- The app image ---


def _dockerfile_instructions() -> list[tuple[str, str]]:
    lines = re.sub(r"\\\n", " ", DOCKERFILE).splitlines()
    kept = [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]
    return [tuple(line.split(None, 1)) for line in kept]


def test_dockerfile_base_is_a_pinned_python_311_slim() -> None:
    instructions = _dockerfile_instructions()
    assert instructions[0][0] == "FROM"
    assert re.fullmatch(r"python:3\.11\.\d+-slim(-\w+)?(@sha256:[0-9a-f]{64})?", instructions[0][1])


def test_dockerfile_installs_the_project_like_make() -> None:
    instructions = _dockerfile_instructions()
    runs = [argument for keyword, argument in instructions if keyword == "RUN"]
    # `pip install .` reads [project].dependencies from pyproject.toml; make installs the same
    # project (editable, plus the dev group), so both get one dependency list.
    assert any(re.search(r"pip install \.(\s|$)", run) for run in runs)
    assert re.search(r"pip install .*-e \.", (ROOT / "Makefile").read_text())
    assert "requirements" not in DOCKERFILE
    assert PYPROJECT["project"]["dependencies"]
    copied = [argument for keyword, argument in instructions if keyword == "COPY"]
    install_at = next(i for i, (k, a) in enumerate(instructions) if k == "RUN" and "pip install" in a)
    copy_at = max(i for i, (k, _) in enumerate(instructions) if k == "COPY")
    assert copied and copy_at < install_at


def test_dockerfile_runs_the_worker_as_a_non_root_user_without_baked_secrets() -> None:
    instructions = _dockerfile_instructions()
    users = [argument for keyword, argument in instructions if keyword == "USER"]
    assert users and users[-1] not in ("root", "0")
    assert ("CMD", '["python", "worker.py"]') == instructions[-1]
    assert not any(keyword == "HEALTHCHECK" for keyword, _ in instructions)
    baked = [argument for keyword, argument in instructions if keyword in ("ENV", "ARG")]
    assert not any(re.search(r"KEY|TOKEN|SECRET|PASSWORD", argument) for argument in baked)


def _ignored(path: str, patterns: list[str]) -> bool:
    parts = path.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    return any(fnmatch.fnmatch(prefix, pattern) for prefix in prefixes for pattern in patterns)


def test_dockerignore_keeps_what_the_install_and_entry_points_need() -> None:
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    patterns = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    setuptools = PYPROJECT["tool"]["setuptools"]
    needed = [
        "pyproject.toml",
        PYPROJECT["project"]["readme"],
        *(f"{module}.py" for module in setuptools["py-modules"]),
        *(pattern.rstrip("*") + "/__init__.py" for pattern in setuptools["packages"]["find"]["include"]),
    ]
    assert not [path for path in needed if _ignored(path, patterns)]
    assert _ignored(".env", patterns) and _ignored(".venv/bin/python", patterns)
    assert _ignored("models/__pycache__/task.cpython-311.pyc", patterns)
