"""Spot draining: with ECS_ENABLE_SPOT_INSTANCE_DRAINING the agent polls the
(fake) instance metadata service's spot instance-action notice and sets its
container instance DRAINING as soon as an interruption is announced."""
import time

from conftest import wait_for


def status(cp, cluster, arn):
    return cp.ecs.describe_container_instances(cluster=cluster, containerInstances=[arn])["containerInstances"][0]["status"]


def test_spot_interruption_drains_the_instance(controlplane, make_agent, cluster_name):
    cp = controlplane
    agent = make_agent(env={"ECS_ENABLE_SPOT_INSTANCE_DRAINING": "true"})
    agent.wait_connected()
    arn = agent.instance_arn()
    # no notice (404): the instance stays ACTIVE while the agent polls
    wait_for(lambda: "spot instance draining enabled" in agent.all_logs(), 20, what="spot poller started")
    assert status(cp, cluster_name, arn) == "ACTIVE"
    cp.admin("/_local/imds/spot", {"action": "terminate", "inSeconds": 120})
    t0 = time.time()
    wait_for(lambda: status(cp, cluster_name, arn) == "DRAINING", 10, interval=0.05, what="DRAINING")
    took = time.time() - t0
    assert took < 2.5, took  # polled every second
    assert "set to DRAINING" in agent.all_logs()
    assert agent.alive()


def test_spot_draining_off_by_default(controlplane, make_agent, cluster_name):
    cp = controlplane
    agent = make_agent()
    agent.wait_connected()
    arn = agent.instance_arn()
    cp.admin("/_local/imds/spot", {"action": "terminate"})
    # the agent is not polling: give it several of the enabled agent's poll periods
    wait_for(lambda: "ACS session connected" in agent.all_logs(), 20, what="connected log")
    deadline = time.time() + 3
    while time.time() < deadline:
        assert status(cp, cluster_name, arn) == "ACTIVE"
        time.sleep(0.5)  # sampling the status over a window, not a synchronisation
    assert "spot instance draining enabled" not in agent.all_logs()
