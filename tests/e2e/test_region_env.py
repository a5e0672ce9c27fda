"""AWS_REGION / AWS_DEFAULT_REGION against the image's own ENV, end to end
(upstream's create step for the region, and the image record's
ManagedEnvKeys): the agent reads the image's Config.Env into its image record
before the create (here with ECS_IMAGE_PULL_BEHAVIOR=prefer-cached, where no
pull runs: the image is built locally) and injects the region only when
neither name is set by the task definition nor by the image.  The record
keeps ManagedEnvKeys in the checkpoint.
"""
import json
import os
import subprocess
import uuid

from conftest import REGION, TEST_LABEL, docker_cleanup, wait_for, wait_task_status

# Prints the two names (or "unset") once, then waits for SIGTERM.
SHOW = ("echo \"R=${AWS_REGION-unset} D=${AWS_DEFAULT_REGION-unset}\"; "
        "trap 'exit 0' TERM; sleep 3600 & wait")


def by_name(cluster, arn):
    ids = subprocess.run(["docker", "ps", "-aq", "--no-trunc", "--filter", "label=com.amazonaws.ecs.cluster=" + cluster,
                          "--filter", "label=com.amazonaws.ecs.task-arn=" + arn], capture_output=True, text=True,
                         timeout=60).stdout.split()
    out = {}
    for i in ids:
        info = json.loads(subprocess.run(["docker", "inspect", i], capture_output=True, text=True,
                                         timeout=60, check=True).stdout)[0]
        out[info["Config"]["Labels"]["com.amazonaws.ecs.container-name"]] = info
    return out


def env_of(info):
    return dict(e.split("=", 1) for e in info["Config"]["Env"] if "=" in e)


def shown(cid):
    """The container's one line, once it has printed it."""
    def line():
        out = subprocess.run(["docker", "logs", cid], capture_output=True, text=True, timeout=60).stdout
        return out.strip() or None
    return wait_for(line, 30, what="output of %s" % cid)


def test_region_against_image_env(make_agent, controlplane, cluster_name, test_image, tmp_path):
    tag = "ecs-agent-c-test/region-env:" + uuid.uuid4().hex[:8]
    (tmp_path / "Dockerfile").write_text("FROM %s\nENV AWS_REGION=xx-image-1\nLABEL %s\n" % (test_image, TEST_LABEL))
    b = subprocess.run(["docker", "build", "-q", "-t", tag, str(tmp_path)], capture_output=True, text=True,
                       timeout=120)
    assert b.returncode == 0, b.stderr
    try:
        a = make_agent(env={"ECS_IMAGE_PULL_BEHAVIOR": "prefer-cached"})
        a.wait_registered()
        a.wait_connected()
        cp = controlplane
        family = "region-" + uuid.uuid4().hex[:6]
        cp.ecs.register_task_definition(family=family, containerDefinitions=[
            {"name": "fromimage", "image": tag, "memory": 32, "essential": True, "command": ["sh", "-c", SHOW]},
            {"name": "plain", "image": test_image, "memory": 32, "essential": True, "command": ["sh", "-c", SHOW]},
            {"name": "tdwins", "image": tag, "memory": 32, "essential": True, "command": ["sh", "-c", SHOW],
             "environment": [{"name": "AWS_DEFAULT_REGION", "value": "td-1"}]},
            {"name": "tdonly", "image": test_image, "memory": 32, "essential": True, "command": ["sh", "-c", SHOW],
             "environment": [{"name": "AWS_REGION", "value": "td-2"}]}])
        r = cp.ecs.run_task(cluster=cluster_name, taskDefinition=family)
        arn = r["tasks"][0]["taskArn"]
        wait_task_status(cp, cluster_name, arn, "RUNNING", timeout=120)
        c = by_name(cluster_name, arn)
        # (Config.Env is Docker's merge of the image's ENV and the create's Env)
        # the image sets AWS_REGION: the agent adds neither name (the image's value stays)
        e = env_of(c["fromimage"])
        assert e["AWS_REGION"] == "xx-image-1" and "AWS_DEFAULT_REGION" not in e, c["fromimage"]["Config"]["Env"]
        assert shown(c["fromimage"]["Id"]) == "R=xx-image-1 D=unset"
        # a plain image: both from the agent
        e = env_of(c["plain"])
        assert e["AWS_REGION"] == REGION and e["AWS_DEFAULT_REGION"] == REGION
        assert shown(c["plain"]["Id"]) == "R=%s D=%s" % (REGION, REGION)
        # the task definition's value wins; the image's stays where the task definition is silent
        e = env_of(c["tdwins"])
        assert e["AWS_DEFAULT_REGION"] == "td-1" and e["AWS_REGION"] == "xx-image-1"
        assert shown(c["tdwins"]["Id"]) == "R=xx-image-1 D=td-1"
        e = env_of(c["tdonly"])
        assert e["AWS_REGION"] == "td-2" and "AWS_DEFAULT_REGION" not in e
        assert shown(c["tdonly"]["Id"]) == "R=td-2 D=unset"
        # the image record, checkpointed with its ManagedEnvKeys
        image_id = c["fromimage"]["Image"]

        def recorded():
            with open(os.path.join(a.data_dir, "ecs_agent_data.json")) as f:
                data = json.load(f)["Data"]
            for s in data["ImageManager"]["ImageStates"]:
                if s["Image"]["ImageID"] == image_id:
                    return s
            return None
        rec = wait_for(recorded, 30, what="image record of %s" % tag)
        assert rec["ManagedEnvKeys"] == ["AWS_REGION"], rec
        assert tag in rec["Image"]["Names"]
        cp.ecs.stop_task(cluster=cluster_name, task=arn)
        wait_task_status(cp, cluster_name, arn, "STOPPED", timeout=60)
        rc = a.stop()
        out = a.output()
        assert rc == 0, out[-3000:]
        assert "Sanitizer" not in out and "runtime error:" not in out, out[-3000:]
    finally:
        docker_cleanup(cluster_name)  # its containers first, so the image goes entirely
        subprocess.run(["docker", "rmi", "-f", tag], capture_output=True, timeout=60)
