"""A fake Codegen API and a fake GitHub in one ASGI app, for mock mode, tests and benchmarks.

`create_app(FakeConfig.from_env())` serves both APIs; `python -m fakes` runs it standalone;
`devstack.services.serve_fake(config)` runs it on a free loopback port inside a test. See `fakes/scenario.py`
for the per-task fault vocabulary and `fakes/config.py` for the global knobs.
"""

from fakes.app import create_app
from fakes.config import FakeConfig
from fakes.scenario import Scenario
from fakes.world import FakeWorld

__all__ = ["FakeConfig", "FakeWorld", "Scenario", "create_app"]
