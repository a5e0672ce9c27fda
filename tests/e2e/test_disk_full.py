"""A full data directory at first start: saving the checkpoint is retried
with back-off (the agent stays up, one log line when saving starts failing,
one when it works again), and registration is idempotent across restarts
(a client token is saved before the first RegisterContainerInstance), so the
control plane never ends up with a second, orphaned container instance.

The data directory is a small tmpfs (we run as root) filled with a filler
file; removing the filler "fixes the disk".  tmpfs counts whole pages, so a
filler that leaves exactly one page free lets the first (token) save through
and makes the next one (the ARN after registration) fail."""
import os
import signal
import subprocess

import pytest

from conftest import wait_for

TMPFS_BYTES = 64 * 1024
PAGE = 4096
FAILING = "saving the checkpoint"


@pytest.fixture
def small_disk(make_agent):
    agent = make_agent(start=False)
    subprocess.check_call(["mount", "-t", "tmpfs", "-o", "size=%d,mode=0700" % TMPFS_BYTES, "tmpfs",
                           agent.data_dir])
    try:
        yield agent
    finally:
        if agent.alive():
            agent.stop()
        subprocess.call(["umount", "-l", agent.data_dir])


def fill(agent, leave_pages):
    with open(os.path.join(agent.data_dir, ".filler"), "wb") as f:
        f.write(b"\0" * (TMPFS_BYTES - leave_pages * PAGE))


def fill_up(agent):
    """Fills what is left of the tmpfs (whatever the checkpoint takes)."""
    import errno
    with open(os.path.join(agent.data_dir, ".filler"), "wb", buffering=0) as f:
        try:
            while True:
                f.write(b"\0" * PAGE)
        except OSError as e:
            assert e.errno == errno.ENOSPC


def unfill(agent):
    os.unlink(os.path.join(agent.data_dir, ".filler"))


def active_instances(agent):
    arns = agent.cp.ecs.list_container_instances(cluster=agent.cluster, status="ACTIVE")["containerInstanceArns"]
    return sorted(arns)


def state_lines(agent, words):
    """Lines of the agent's log file (stdout repeats them) from the store with words."""
    text = ""
    for f in sorted(os.listdir(agent.log_dir)):
        if os.path.islink(os.path.join(agent.log_dir, f)):
            continue  # ECS_LOGFILE itself links to the current hour's file
        with open(os.path.join(agent.log_dir, f), errors="replace") as fh:
            text += fh.read()
    return [l for l in text.splitlines() if "module=state" in l and words in l]


def test_full_disk_at_first_start_waits_then_registers_once(small_disk):
    agent = small_disk
    fill(agent, 0)
    agent.start()
    wait_for(lambda: state_lines(agent, "fails"), 60, what="the save-failing line\n" + agent.output()[-3000:])
    # the agent waits for its token to be durable before registering: it stays
    # up and registers nothing while the disk is full
    assert agent.alive()
    assert active_instances(agent) == []
    unfill(agent)
    agent.wait_connected(60)
    arns = active_instances(agent)
    assert len(arns) == 1
    assert len(state_lines(agent, "fails")) == 1
    assert len(state_lines(agent, "works again")) == 1
    assert agent.stop() == 0
    agent.start()
    agent.wait_connected(60)
    assert active_instances(agent) == arns


def test_arn_save_fails_after_registration_no_orphan(small_disk):
    agent = small_disk
    # one page free: the token is saved, the ARN after registration is not
    fill(agent, 1)
    agent.start()
    first = agent.wait_registered(60)
    wait_for(lambda: state_lines(agent, "fails"), 30, what="the save-failing line\n" + agent.output()[-3000:])
    assert agent.alive(), "a failed save after registration must not end the agent (it used to exit 5)"
    assert active_instances(agent) == [first]
    # the agent dies before the disk is fixed; then the disk is fixed and it starts again
    agent.stop(signal.SIGKILL)
    unfill(agent)
    agent.start()
    agent.wait_connected(60)
    assert active_instances(agent) == [first], "a second container instance was registered"
    with open(os.path.join(agent.data_dir, "ecs_agent_data.json")) as f:
        assert first in f.read()


def test_full_disk_at_shutdown_exits_retriable(small_disk):
    agent = small_disk
    fill(agent, 8)
    agent.start()
    agent.wait_connected(60)
    arns = active_instances(agent)
    # the disk fills up under a running agent: the final save fails; what was
    # acknowledged is on disk, so the exit is retriable (1), not terminal (5)
    unfill(agent)
    fill_up(agent)
    assert agent.stop() == 1
    unfill(agent)
    agent.start()
    agent.wait_connected(60)
    assert active_instances(agent) == arns
