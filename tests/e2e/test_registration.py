"""Registration as current upstream sends it (issue 16), real agent and the
control plane: the container instance's tags (ECS_CONTAINER_INSTANCE_TAGS, and
with ECS_CONTAINER_INSTANCE_PROPAGATE_TAGS_FROM=ec2_instance the EC2 instance's
tags read from the instance metadata, configured ones winning, aws: ones left
out), the client token of every registration, the availability zone learned
from the answer, the same ARN and the tags again on re-registration, the
custom attributes (ECS_INSTANCE_ATTRIBUTES) on the first registration only
(upstream's registerContainerInstance; the instance keeps them), and the
DiscoverPollEndpoint members (zoneId) upstream sends."""

import json

from conftest import wait_for


def requests(cp, kind):
    return [e["request"] for e in cp.admin("/_local/events?kind=" + kind)["events"]]


def test_tags_token_zone_and_reregistration(controlplane, make_agent):
    cp = controlplane
    cp.admin("/_local/imds/tags", {"tags": {"Name": "web-1", "team": "infra",
                                            "aws:cloudformation:stack-name": "s1"}})
    agent = make_agent(env={"ECS_CONTAINER_INSTANCE_TAGS": json.dumps({"team": "platform", "env": "dev"}),
                            "ECS_CONTAINER_INSTANCE_PROPAGATE_TAGS_FROM": "ec2_instance",
                            "ECS_INSTANCE_ATTRIBUTES": json.dumps({"stack": "blue"})})
    agent.wait_connected()
    arn = agent.instance_arn()
    want = {"team": "platform", "env": "dev", "Name": "web-1"}
    reg = requests(cp, "RegisterContainerInstance")
    assert len(reg) == 1, reg
    assert {t["key"]: t["value"] for t in reg[0]["tags"]} == want, reg[0]["tags"]
    assert reg[0].get("clientToken"), reg[0]
    assert {"name": "stack", "value": "blue"} in reg[0]["attributes"], reg[0]["attributes"]
    ci = cp.ecs.describe_container_instances(cluster=agent.cluster, containerInstances=[arn])
    ci = ci["containerInstances"][0]
    assert {t["key"]: t["value"] for t in ci["tags"]} == want, ci["tags"]
    zone = [a["value"] for a in ci["attributes"] if a["name"] == "ecs.availability-zone"][0]
    wait_for(lambda: "availability zone " + zone in agent.all_logs(), 20, what="the zone from the answer")
    # DiscoverPollEndpoint: the members upstream sends for ACS and TCS (an empty zoneId)
    disc = wait_for(lambda: (lambda r: r if len(r) >= 2 else None)(requests(cp, "DiscoverPollEndpoint")), 30,
                    what="ACS and TCS discovery")
    for d in disc:
        assert d == {"containerInstance": arn, "cluster": agent.cluster, "zoneId": ""}, d

    # re-registration after a restart: same ARN, the tags again
    assert agent.stop() == 0
    agent.start()
    wait_for(lambda: len(requests(cp, "RegisterContainerInstance")) >= 2, 60, what="re-registration")
    again = requests(cp, "RegisterContainerInstance")[1]
    assert again.get("containerInstanceArn") == arn, again
    # a token on every registration, as upstream; a fresh one for the re-registration
    assert again.get("clientToken") and again["clientToken"] != reg[0]["clientToken"], again
    assert {t["key"]: t["value"] for t in again["tags"]} == want, again
    # custom attributes: the first registration only, as upstream; the instance keeps them
    assert not [a for a in again["attributes"] if a["name"] == "stack"], again["attributes"]
    assert any(a["name"] == "ecs.os-type" for a in again["attributes"]), again["attributes"]
    agent.wait_connected()
    assert agent.instance_arn() == arn
    ci = cp.ecs.describe_container_instances(cluster=agent.cluster, containerInstances=[arn])
    assert {"name": "stack", "value": "blue"} in ci["containerInstances"][0]["attributes"], ci
    assert agent.stop() == 0
    assert "Sanitizer" not in agent.output()


def test_ec2_tags_unavailable_registers_with_configured_tags(controlplane, make_agent):
    """Tags not allowed in the instance metadata (404): one warning, the
    configured tags alone, as upstream when DescribeTags fails."""
    cp = controlplane
    agent = make_agent(env={"ECS_CONTAINER_INSTANCE_TAGS": '{"env":"dev"}',
                            "ECS_CONTAINER_INSTANCE_PROPAGATE_TAGS_FROM": "ec2_instance",
                            "ECS_INSTANCE_ATTRIBUTES": json.dumps({"stack": "blue"})})
    agent.wait_connected()
    reg = requests(cp, "RegisterContainerInstance")
    assert [(t["key"], t["value"]) for t in reg[0]["tags"]] == [("env", "dev")], reg[0]
    assert "cannot read the EC2 instance's tags" in agent.all_logs()
    assert agent.stop() == 0
