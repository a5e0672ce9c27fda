"""Issue 2: flags, configuration errors, logging and lifecycle of the real binary."""
import glob
import os
import re
import resource
import signal
import socket
import subprocess
import time

import pytest

from conftest import agent_bin, register_task_def, wait_for, wait_task_status

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


# ---- descriptor exhaustion (issue 20, item 5) ----

def start_with_nofile(a, limit):
    """Agent.start with RLIMIT_NOFILE set to limit in the child."""
    def lower():
        resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))
    a.runs += 1
    a.out = open(a.stdout_path, "a")
    a.proc = subprocess.Popen([agent_bin()] + a.args, env=a.env, stdout=a.out, stderr=subprocess.STDOUT,
                              cwd=a.tmp, preexec_fn=lower)
    return a


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def open_fds(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def flood(port, n):
    socks = []
    for _ in range(n):
        s = socket.socket()
        s.setblocking(False)
        s.connect_ex(("127.0.0.1", port))
        socks.append(s)
    return socks


def file_log(a):
    """The agent's log file: every hourly file once (ECS_LOGFILE itself is a link to one)."""
    text = ""
    for f in sorted(glob.glob(os.path.join(a.log_dir, "ecs-agent.log.*"))):
        with open(f, errors="replace") as fh:
            text += fh.read()
    return text


def metadata_answers(a):
    try:
        return a.introspect("/v1/metadata").get("Cluster") == a.cluster
    except OSError:
        return False


def test_introspection_flood_under_low_fd_limit_keeps_a_reserve(make_agent):
    """With RLIMIT_NOFILE at 64, 300 idle connections never take the agent's
    last descriptors: the server caps its connections below the limit, the
    loop stays idle (today: accept failed with EMFILE, ~78,000 log lines a
    second at 100 % CPU), a request is still answered during the flood, and
    the final save works."""
    limit = 64
    a = make_agent(start=False)
    start_with_nofile(a, limit)
    a.wait_connected()
    socks = flood(a.introspection_port, 300)
    try:
        # the flood has reached the agent: it is at its connection limit
        wait_for(lambda: "connection limit" in a.all_logs(), 30, what="the connection limit reached")
        cpu0, t0 = cpu_seconds(a.proc.pid), time.time()
        peak = 0
        while time.time() - t0 < 3:
            peak = max(peak, open_fds(a.proc.pid))
            time.sleep(0.1)  # sampling interval of the measurement window, not a synchronisation
        cpu = (cpu_seconds(a.proc.pid) - cpu0) / (time.time() - t0)
        assert cpu < 0.3, "agent used %.0f %% CPU under the flood" % (cpu * 100)
        assert peak <= limit - 8, "agent held %d of %d descriptors" % (peak, limit)
        # a real client still gets an answer (the oldest idle connection makes room)
        wait_for(lambda: metadata_answers(a), 10, what="/v1/metadata during the flood")
    finally:
        for s in socks:
            s.close()
    wait_for(lambda: metadata_answers(a), 10, what="/v1/metadata after the flood")
    assert a.alive()
    text = a.all_logs()
    assert "errno 24" not in text
    assert "at most" in text and "connections on port %d" % a.introspection_port in text
    assert a.stop(signal.SIGTERM, timeout=30) == 0, a.output()[-3000:]
    assert "Checkpoint saved" in a.all_logs()


def test_out_of_descriptors_backs_off_and_recovers(make_agent):
    """Descriptors run out while clients flood the port (the limit lowered
    under the running agent): accepting backs off instead of spinning, the
    condition is logged once and its end once, and /v1/metadata answers
    again once the flood is gone."""
    a = make_agent(start=False)
    start_with_nofile(a, 64)
    a.wait_connected()
    pid = a.proc.pid
    used = open_fds(pid)
    resource.prlimit(pid, resource.RLIMIT_NOFILE, (used + 4, 64))
    socks = flood(a.introspection_port, 100)
    try:
        wait_for(lambda: "cannot accept introspection connections" in a.all_logs(), 10,
                 what="the out-of-descriptors line")
        cpu0, t0 = cpu_seconds(pid), time.time()
        time.sleep(3)  # a measurement window, not a synchronisation
        cpu = (cpu_seconds(pid) - cpu0) / (time.time() - t0)
        assert cpu < 0.3, "agent used %.0f %% CPU out of descriptors" % (cpu * 100)
    finally:
        for s in socks:
            s.close()
    resource.prlimit(pid, resource.RLIMIT_NOFILE, (64, 64))
    wait_for(lambda: metadata_answers(a), 15, what="/v1/metadata after the flood")
    wait_for(lambda: "accepting introspection connections again" in a.all_logs(), 15,
             what="the recovery line")
    assert "errno 24" not in a.all_logs()
    text = file_log(a)
    assert text.count("cannot accept introspection connections") == 1, text[-3000:]
    assert text.count("accepting introspection connections again") == 1, text[-3000:]
    assert a.alive()
    assert a.stop(signal.SIGTERM, timeout=30) == 0, a.output()[-3000:]


# ---- signals (issue 20, item 7): a daemon's signals never end the agent unannounced ----

def test_sighup_reopens_the_log_file(make_agent, tmp_path):
    """A rotation tool moved the log file away: after SIGHUP the agent logs
    to a new file of the same name, not to the moved one, and keeps running."""
    a = make_agent()
    a.wait_connected()
    rotated = tmp_path / "rotated"
    rotated.mkdir()
    for f in glob.glob(os.path.join(a.log_dir, "ecs-agent.log.*")):
        os.rename(f, str(rotated / os.path.basename(f)))
    a.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: "Received SIGHUP, reopened the log file" in file_log(a), 10,
             what="the SIGHUP line in a new log file\n" + a.output()[-2000:])
    assert a.alive()
    assert metadata_answers(a)
    old = "".join(open(str(f), errors="replace").read() for f in rotated.iterdir())
    assert "SIGHUP" not in old
    assert a.stop(signal.SIGTERM, timeout=30) == 0
    assert "Received SIGTERM, shutting down" in file_log(a)


def test_size_rollover_of_the_log_file(make_agent):
    """ECS_LOG_ROLLOVER_TYPE=size: the agent writes ECS_LOGFILE itself (a
    regular file), rolls it to ecs-agent.log.<N> once it holds
    ECS_LOG_MAX_FILE_SIZE_MB, keeps ECS_LOG_MAX_ROLL_COUNT rolls."""
    a = make_agent(env={"ECS_LOG_ROLLOVER_TYPE": "size", "ECS_LOG_MAX_FILE_SIZE_MB": "0.0003",
                        "ECS_LOG_MAX_ROLL_COUNT": "2"})
    a.wait_connected()
    base = os.path.join(a.log_dir, "ecs-agent.log")

    def rolls():
        return sorted(glob.glob(base + ".*"), key=lambda f: int(f.rsplit(".", 1)[1]))
    # the start writes well over 1 kB at debug level: rolls 1, 2, 3... with the oldest gone
    wait_for(lambda: len(rolls()) == 2 and not os.path.exists(base + ".1"), 30,
             what="two rolls, the first pruned: %s" % rolls())
    assert os.path.isfile(base) and not os.path.islink(base)
    for f in rolls():
        assert 300 <= os.path.getsize(f) < 300 + 4096, (f, os.path.getsize(f))
    assert a.stop(signal.SIGTERM, timeout=30) == 0
    text = "".join(open(f, errors="replace").read() for f in rolls() + [base])
    assert "Received SIGTERM, shutting down" in text and "exiting cleanly" in text


@pytest.mark.parametrize("sig,name", [(signal.SIGUSR2, "SIGUSR2"), (signal.SIGALRM, "SIGALRM")])
def test_ignored_signals_are_logged_and_survived(make_agent, sig, name):
    a = make_agent()
    a.wait_connected()
    a.proc.send_signal(sig)
    wait_for(lambda: "Received %s, ignored" % name in file_log(a), 10,
             what="the %s line\n%s" % (name, a.output()[-2000:]))
    assert a.alive()
    assert metadata_answers(a)
    assert a.stop(signal.SIGTERM, timeout=30) == 0


def test_sigusr1_logs_a_state_summary(make_agent, controlplane, cluster_name, test_image):
    """USR1: one summary line (registration, ACS, queue, checkpoint) and one
    line per task with its containers and statuses; the agent keeps running."""
    a = make_agent()
    a.wait_connected()
    td = register_task_def(controlplane, "sig-summary", test_image)
    r = controlplane.ecs.run_task(cluster=cluster_name, taskDefinition=td)
    assert not r.get("failures"), r
    arn = r["tasks"][0]["taskArn"]
    wait_task_status(controlplane, cluster_name, arn, "RUNNING")
    a.proc.send_signal(signal.SIGUSR1)
    wait_for(lambda: "Received SIGUSR1, logging a state summary" in file_log(a), 10,
             what="the SIGUSR1 line")
    summary_re = (r'msg="state summary: cluster=%s instance=(\S+) .*tasks=1 acs=connected '
                  r'acs_queued_bytes=\d+ state_changes_queued=\d+ checkpoint=healthy"' % re.escape(cluster_name))
    summary = wait_for(lambda: re.search(summary_re, file_log(a)), 10, what="the summary line")
    assert summary.group(1) == a.instance_arn()
    task_re = (r'msg="task %s sig-summary:\d+ known=RUNNING desired=RUNNING containers=1: '
               r'main=RUNNING/RUNNING id=[0-9a-f]{12}"' % re.escape(arn))
    assert re.search(task_re, file_log(a)), file_log(a)[-3000:]
    assert a.alive()
    controlplane.ecs.stop_task(cluster=cluster_name, task=arn)
    wait_task_status(controlplane, cluster_name, arn, "STOPPED")
    assert a.stop(signal.SIGTERM, timeout=30) == 0


def test_sigquit_stops_cleanly_with_a_final_save(make_agent):
    a = make_agent()
    a.wait_connected()
    ckpt = os.path.join(a.data_dir, "ecs_agent_data.json")
    before = os.stat(ckpt).st_mtime_ns
    assert a.stop(signal.SIGQUIT, timeout=30) == 0, a.output()[-3000:]
    text = file_log(a)
    assert "Received SIGQUIT, shutting down" in text
    assert "Checkpoint saved" in text
    assert os.stat(ckpt).st_mtime_ns >= before
    assert "exiting cleanly" in a.output()
