"""Local processes for development: the Temporal dev server, the fake, the relay and the worker.

One package for everything that starts them on this machine (the demo, the benchmarks, the tests
and `starter.py dev-server`): how a child process runs (`process`), the environment it gets
(`env`), the dev server's command line (`temporal_server`), each service's command and port
(`services`) and waiting until a started thing is usable (`readiness`).
"""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
