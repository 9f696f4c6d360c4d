"""Shared pytest set-up for satchel's tests.

Everything above the marker line below is test-server infrastructure (owned with
``tests/servers/``). Other developers: append your own fixtures and hooks BELOW the
``# --- project fixtures below ---`` line, and keep the environment settings at the top,
because they must run before botocore, gcsfs or adlfs are imported.
"""

import logging
import os

# gcsfs 2026.x probes for zonal/HNS buckets and stalls ~60 s per bucket against an emulator
# unless this is off before gcsfs is imported.
os.environ["GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT"] = "false"
# Fake AWS credentials, and no probing of the network or of a developer's real profile.
os.environ["AWS_ACCESS_KEY_ID"] = "testing"
os.environ["AWS_SECRET_ACCESS_KEY"] = "testing"
os.environ["AWS_DEFAULT_REGION"] = "us-east-1"
os.environ["AWS_EC2_METADATA_DISABLED"] = "true"
os.environ["AWS_CONFIG_FILE"] = os.devnull
os.environ["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull
for _name in ("AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_PROFILE", "AWS_ENDPOINT_URL"):
    os.environ.pop(_name, None)
# Loopback traffic must never go through a developer's proxy.
os.environ["NO_PROXY"] = os.environ["no_proxy"] = ",".join(
    filter(None, [os.environ.get("NO_PROXY", ""), "127.0.0.1", "localhost"])
)
# moto's server logs every request through werkzeug at INFO level.
logging.getLogger("werkzeug").setLevel(logging.ERROR)

pytest_plugins = ["tests.servers.fixtures"]

# --- project fixtures below ---

# Artifact-core isolation (autouse): SATCHEL_STORE / SATCHEL_CACHE_DIR in private temporary
# folders and tmp_path as the working directory, for every test. See tests/core_fixtures.py.
from tests.core_fixtures import satchel_env  # noqa: F401
