"""Issue 2: flags, configuration errors, logging and lifecycle of the real binary."""
import glob
import os
import re
import signal
import subprocess

import pytest

from conftest import agent_bin, wait_for

BASE_ENV = {"PATH": "/usr/bin:/bin", "ECS_AGENT_CONFIG_FILE_PATH": "/nonexistent/config.json"}


def run(args=(), env=None, timeout=20):
    e = dict(BASE_ENV)
    e.update(env or {})
    return subprocess.run([agent_bin()] + list(args), env=e, capture_output=True, text=True, timeout=timeout)


def test_version_flag():
    r = run(["-version"])
    assert r.returncode == 0
    lines = r.stdout.splitlines()
    assert lines[0] == "Amazon ECS Agent:"
    assert re.match(r"^\tVersion: \d+\.\d+\.\d+$", lines[1])
    assert re.match(r"^\tCommit: \S+$", lines[2])


def test_help_and_unknown_flag():
    r = run(["-help"])
    assert r.returncode == 0 and "-loglevel" in r.stdout
    r = run(["-bogus"])
    assert r.returncode == 2 and "flag provided but not defined: -bogus" in r.stderr


@pytest.mark.parametrize("key,value", [
    ("ECS_RESERVED_PORTS", "[22, 80"),
    ("ECS_RESERVED_PORTS", "[99999]"),
    ("ECS_LOGLEVEL", "chatty"),
    ("ECS_ENGINE_TASK_CLEANUP_WAIT_DURATION", "three hours"),
    ("ECS_CONTAINER_STOP_TIMEOUT", "10"),
    ("ECS_CHECKPOINT", "perhaps"),
    ("ECS_UPDATES_ENABLED", "yes please"),
    ("ECS_RESERVED_MEMORY", "lots"),
    ("ECS_INSTANCE_ATTRIBUTES", "[]"),
    ("ECS_ENGINE_AUTH_TYPE", "kerberos"),
])
def test_invalid_config_is_one_line_and_exit_5(key, value):
    r = run(env={key: value})
    assert r.returncode == 5, r.stdout + r.stderr
    out = [l for l in (r.stdout + r.stderr).splitlines() if l.strip()]
    assert len(out) == 1, out
    assert key in out[0] and "level=crit" in out[0]


def test_invalid_config_file_exit_5(tmp_path):
    p = tmp_path / "config.json"
    p.write_text('{"Cluster": "x", ')
    r = run(env={"ECS_AGENT_CONFIG_FILE_PATH": str(p)})
    assert r.returncode == 5
    assert str(p) in r.stdout


def test_auth_data_error_does_not_leak_secret():
    r = run(env={"ECS_ENGINE_AUTH_TYPE": "docker", "ECS_ENGINE_AUTH_DATA": '{"x": "hunter2secret"'})
    assert r.returncode == 5
    assert "hunter2secret" not in r.stdout + r.stderr


def test_corrupt_checkpoint_is_terminal(tmp_path):
    d = tmp_path / "data"
    d.mkdir()
    (d / "ecs_agent_data.json").write_text('{"Version":100,"Data":{"Cluster":"x"')
    r = run(env={"ECS_DATADIR": str(d), "ECS_CHECKPOINT": "true", "AWS_DEFAULT_REGION": "us-west-2",
                 "ECS_BACKEND_HOST": "http://127.0.0.1:9"})
    assert r.returncode == 5, r.stdout
    assert "ecs_agent_data.json" in r.stdout


def test_sigterm_exits_0_and_log_file_gets_debug(make_agent):
    a = make_agent(env={"ECS_LOGLEVEL": "warn"})
    a.wait_connected()
    rc = a.stop(signal.SIGTERM, timeout=20)
    assert rc == 0, a.output()[-3000:]
    files = glob.glob(os.path.join(a.log_dir, "ecs-agent.log.*"))
    assert any(re.search(r"ecs-agent\.log\.\d{4}-\d{2}-\d{2}-\d{2}$", f) for f in files), files
    text = open(os.path.join(a.log_dir, "ecs-agent.log")).read()
    assert "level=debug" in text
    assert "level=debug" not in a.output()
    # the checkpoint exists and is private
    st = os.stat(os.path.join(a.data_dir, "ecs_agent_data.json"))
    assert st.st_mode & 0o077 == 0
    # secrets never logged
    assert "localtestsecretkey" not in text and "localtestsecretkey" not in a.output()


def test_sigint_exits_0(make_agent):
    a = make_agent()
    a.wait_registered()
    assert a.stop(signal.SIGINT, timeout=20) == 0
