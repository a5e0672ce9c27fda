"""A checkpoint path that is not a regular file (FIFO, symbolic link to
/dev/zero, directory, device) or a checkpoint over the size limit: the agent
exits 5 within seconds with one line naming the file - it never blocks in
open() on a FIFO (where SIGTERM would not end it) nor reads /dev/zero
without end."""
import os
import subprocess
import time

import pytest

from conftest import agent_bin

FILE = "ecs_agent_data.json"
MAX_BYTES = 256 << 20  # STATE_FILE_MAX_BYTES in src/state/state.h


def _fifo(p):
    os.mkfifo(p)


def _dev_zero_link(p):
    os.symlink("/dev/zero", p)


def _directory(p):
    os.mkdir(p)
    with open(os.path.join(p, "x"), "w") as f:
        f.write("x")


def _char_device(p):
    os.mknod(p, 0o600 | 0o020000, os.makedev(1, 5))  # S_IFCHR, /dev/zero


def _oversize(p):
    with open(p, "wb") as f:
        f.truncate(MAX_BYTES + 1)  # sparse: costs nothing on disk


@pytest.mark.parametrize("make,what", [
    (_fifo, "FIFO"),
    (_dev_zero_link, "symbolic link"),
    (_directory, "directory"),
    (_char_device, "character device"),
    (_oversize, "MiB"),
], ids=["fifo", "symlink-dev-zero", "directory", "char-device", "oversize"])
def test_checkpoint_not_regular_exits_5(tmp_path, make, what):
    data = tmp_path / "data"
    data.mkdir()
    path = str(data / FILE)
    make(path)
    env = {
        "PATH": "/usr/bin:/bin",
        "ECS_AGENT_CONFIG_FILE_PATH": "/nonexistent/config.json",
        "ECS_DATADIR": str(data),
        "ECS_CHECKPOINT": "true",
        "ECS_CLUSTER": "files",
        "AWS_DEFAULT_REGION": "us-west-2",
        "ECS_BACKEND_HOST": "http://127.0.0.1:9",
        "ASAN_OPTIONS": os.environ.get("ASAN_OPTIONS", "detect_leaks=1"),
    }
    t0 = time.monotonic()
    r = subprocess.run([agent_bin()], env=env, capture_output=True, text=True, timeout=30)
    took = time.monotonic() - t0
    out = r.stdout + r.stderr
    assert r.returncode == 5, out
    assert took < 10, "took %.1f s" % took
    lines = [line for line in out.splitlines() if FILE in line]
    assert len(lines) == 1, out
    assert "level=crit" in lines[0] and what in lines[0], lines[0]
    # the path itself is left as it was (nothing replaced or deleted)
    assert os.path.lexists(path)
