"""The Debian package (`make deb`), installed in a throwaway Debian root.

The root is a container from tests/lib/debian-root.sh (debootstrap minbase +
systemd + docker.io, nothing pulled), on the host network with the host's
Docker socket, so the packaged agent reaches the local control plane on
127.0.0.1 and runs on the host's engine.  In it:
  lintian clean (errors and warnings; the overrides are explained in the
  package); install; the unit validates with `systemd-analyze verify`; the
  agent started with the unit's environment and /etc/ecs/ecs.config registers
  and connects; an upgrade keeps the edited conffile and the checkpoint; purge
  leaves the file system as it was before the installation.
"""
import os
import shutil
import subprocess
import uuid

import pytest

from conftest import AKID, REGION, ROOT, SECRET, TEST_LABEL, docker_cleanup, free_port, wait_for

PKG = "amazon-ecs-agent"
UNIT = "/lib/systemd/system/amazon-ecs-agent.service"

pytestmark = pytest.mark.skipif(shutil.which("docker") is None or
                                subprocess.run(["docker", "info"], capture_output=True).returncode != 0,
                                reason="needs the Docker engine")


def run(cmd, **kw):
    r = subprocess.run(cmd, capture_output=True, text=True, **kw)
    assert r.returncode == 0, "%s: rc=%d\n%s%s" % (cmd, r.returncode, r.stdout, r.stderr)
    return r.stdout


@pytest.fixture(scope="module")
def debs(tmp_path_factory):
    """The package `make deb` builds, and a newer one from the same tree."""
    out = run(["make", "-s", "deb"], cwd=ROOT)
    v1 = out.strip().splitlines()[-1]
    assert v1.endswith(".deb") and os.path.exists(v1), out
    d = tmp_path_factory.mktemp("debs")
    version = open(os.path.join(ROOT, "VERSION")).read().strip()
    v2 = run([os.path.join(ROOT, "packaging/deb/build.sh"), os.path.join(ROOT, "out/release/amazon-ecs-agent-static"),
              str(d)], cwd=ROOT, env=dict(os.environ, DEB_VERSION=version + "+upgrade1")).strip().splitlines()[-1]
    shutil.copy(v1, d / "v1.deb")
    shutil.copy(v2, d / "v2.deb")
    return {"dir": str(d), "version": version, "upgrade": version + "+upgrade1"}


@pytest.fixture(scope="module")
def debroot():
    tag = run([os.path.join(ROOT, "tests/lib/debian-root.sh")], cwd=ROOT, timeout=900).strip().splitlines()[-1]
    return tag


def test_lintian_clean(debs):
    if shutil.which("lintian") is None:
        pytest.fail("lintian missing (make deps installs it)")
    r = subprocess.run(["lintian", "--fail-on", "error,warning", os.path.join(debs["dir"], "v1.deb")],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    tags = [l for l in r.stdout.splitlines() if l[:2] in ("E:", "W:")]
    assert tags == [], tags


def test_apt_sources(tmp_path):
    """The archive comes from the machine's apt configuration (deb822 and
    one-line files); none configured is a clear error."""
    script = os.path.join(ROOT, "scripts/apt-sources.sh")
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / "sources.list.d" / "a.sources").write_text(
        "Types: deb\nURIs: file:/srv/archive\nSuites: stable stable-updates\nComponents: main\n"
        "Signed-By: /k.gpg\n\nTypes: deb\nURIs: file:/srv/security\nSuites: stable-security\n"
        "Components: main\n\nTypes: deb\nURIs: file:/srv/off\nSuites: x\nEnabled: no\n")
    (tmp_path / "sources.list").write_text("# c\ndeb [arch=amd64 signed-by=/j.gpg] file:/srv/other sid main contrib\n")
    env = dict(os.environ, APT_SOURCES_DIR=str(tmp_path))
    assert run([script, "--mirror"], env=env).strip() == "file:/srv/archive"
    assert run([script, "--deb-src"], env=env).splitlines() == [
        "deb-src [signed-by=/j.gpg] file:/srv/other sid main contrib",
        "deb-src [signed-by=/k.gpg] file:/srv/archive stable main",
        "deb-src [signed-by=/k.gpg] file:/srv/archive stable-updates main",
        "deb-src file:/srv/security stable-security main",
    ]
    (tmp_path / "sources.list").unlink()
    (tmp_path / "sources.list.d" / "a.sources").unlink()
    r = subprocess.run([script, "--mirror"], env=env, capture_output=True, text=True)
    assert r.returncode == 1 and "no enabled 'deb' entry" in r.stderr


def test_contents(debs):
    listing = run(["dpkg-deb", "-c", os.path.join(debs["dir"], "v1.deb")])
    for path in ("./usr/bin/amazon-ecs-agent", "." + UNIT, "./etc/ecs/ecs.config",
                 "./usr/share/doc/amazon-ecs-agent/copyright", "./usr/share/man/man8/amazon-ecs-agent.8.gz",
                 "./usr/sbin/ecs-task-endpoints-net", "./usr/share/man/man8/ecs-task-endpoints-net.8.gz"):
        assert path in listing, path
    assert "-rwxr-xr-x root/root" in [l for l in listing.splitlines() if "ecs-task-endpoints-net\n" in l + "\n"][0]
    assert run(["dpkg-deb", "-f", os.path.join(debs["dir"], "v1.deb"), "Version"]).strip() == debs["version"]
    ctl = run(["dpkg-deb", "--ctrl-tarfile", os.path.join(debs["dir"], "v1.deb")], encoding="latin-1")
    assert "conffiles" in ctl


class Root:
    """A container from the Debian root image; commands run with docker exec."""

    def __init__(self, image, debdir):
        self.name = "ecs-agent-c-test-deb-" + uuid.uuid4().hex[:10]
        # --init: the agent, started in the background, is reaped when it exits
        run(["docker", "run", "-d", "--init", "--name", self.name, "--label", TEST_LABEL, "--network", "host",
             "-v", "/var/run/docker.sock:/var/run/docker.sock", "-v", debdir + ":/debs:ro", image,
             "/bin/sleep", "infinity"])

    def sh(self, script, check=True):
        r = subprocess.run(["docker", "exec", self.name, "/bin/sh", "-c", script], capture_output=True, text=True,
                           timeout=300)
        if check:
            assert r.returncode == 0, "%s: rc=%d\n%s%s" % (script, r.returncode, r.stdout, r.stderr)
        return r

    def snapshot(self):
        # every path outside the pseudo file systems, dpkg's and apt's own
        # records and the mounts of this test
        return self.sh("find / -xdev \\( -path /proc -o -path /sys -o -path /dev -o -path /run -o -path /tmp "
                       "-o -path /debs -o -path /var/lib/dpkg -o -path /var/log/dpkg.log -o -path /var/log/apt "
                       "-o -path /var/cache/debconf -o -path /var/log/alternatives.log \\) -prune -o -print "
                       "| sort").stdout.splitlines()

    def remove(self):
        subprocess.run(["docker", "rm", "-f", self.name], capture_output=True)


def test_install_verify_run_upgrade_purge(debs, debroot, controlplane, cluster_name):
    root = Root(debroot, debs["dir"])
    try:
        before = root.snapshot()
        root.sh("dpkg -i /debs/v1.deb")
        assert root.sh("dpkg-query -W -f='${Status} ${Version}' %s" % PKG).stdout == \
            "install ok installed " + debs["version"]
        out = root.sh("/usr/bin/amazon-ecs-agent -version").stdout
        assert out.startswith("Amazon ECS Agent:") and debs["version"] in out
        # enabled as debhelper enables units; data and log directories exist
        root.sh("test -L /etc/systemd/system/multi-user.target.wants/amazon-ecs-agent.service")
        root.sh("test -d /var/lib/ecs/data && test -d /var/log/ecs")
        # the 169.254.170.2 forwarding runs around the agent, as ecs-init does it
        root.sh("test -x /usr/sbin/ecs-task-endpoints-net && grep -qx 'ExecStartPre=-+/usr/sbin/ecs-task-endpoints-net "
                "setup' %s && grep -qx 'ExecStopPost=-+/usr/sbin/ecs-task-endpoints-net remove' %s" % (UNIT, UNIT))
        r = root.sh("systemd-analyze verify %s" % UNIT, check=False)
        assert r.returncode == 0 and r.stderr.strip() == "", r.stdout + r.stderr

        # the agent, started as the unit starts it: the unit's Environment=
        # lines, then /etc/ecs/ecs.config, then ExecStart
        controlplane.ecs.create_cluster(clusterName=cluster_name)
        port = free_port()
        cfg = "\n".join(["ECS_CLUSTER=" + cluster_name, "ECS_BACKEND_HOST=" + controlplane.url,
                         "AWS_DEFAULT_REGION=" + REGION, "AWS_ACCESS_KEY_ID=" + AKID,
                         "AWS_SECRET_ACCESS_KEY=" + SECRET,
                         "AWS_EC2_METADATA_SERVICE_ENDPOINT=" + controlplane.imds_url,
                         "ECS_INTROSPECTION_PORT=%d" % port, "ECS_AGENT_EXTRA_CONTAINER_LABEL=" + TEST_LABEL])
        root.sh("cat >> /etc/ecs/ecs.config <<'EOF'\n%s\nEOF" % cfg)
        start = ("set -a; eval \"$(sed -n 's/^Environment=//p' %s)\"; . /etc/ecs/ecs.config; set +a; "
                 "exec=$(sed -n 's/^ExecStart=//p' %s); cd /var/lib/ecs; "
                 "$exec >/tmp/agent.out 2>&1 & echo $! >/tmp/agent.pid") % (UNIT, UNIT)
        root.sh(start)

        def registered():
            arns = controlplane.ecs.list_container_instances(cluster=cluster_name)["containerInstanceArns"]
            return arns[0] if arns else None
        try:
            ci = wait_for(registered, 60, what="the packaged agent registers")

            def connected():
                d = controlplane.ecs.describe_container_instances(cluster=cluster_name, containerInstances=[ci])
                return d["containerInstances"][0].get("agentConnected")
            wait_for(connected, 60, what="the packaged agent's ACS connection")
        except AssertionError:
            raise AssertionError(root.sh("cat /tmp/agent.out /var/log/ecs/ecs-agent.log", check=False).stdout[-4000:])
        root.sh("kill -TERM $(cat /tmp/agent.pid)")
        wait_for(lambda: root.sh("kill -0 $(cat /tmp/agent.pid)", check=False).returncode != 0, 30,
                 what="the agent stops on SIGTERM")
        root.sh("test -s /var/lib/ecs/data/ecs_agent_data.json")
        root.sh("test -s /var/log/ecs/ecs-agent.log")

        # upgrade: the edited conffile and the checkpoint stay
        root.sh("dpkg -i --force-confold /debs/v2.deb")
        assert root.sh("dpkg-query -W -f='${Version}' %s" % PKG).stdout == debs["upgrade"]
        assert ("ECS_CLUSTER=" + cluster_name) in root.sh("cat /etc/ecs/ecs.config").stdout
        root.sh("test -s /var/lib/ecs/data/ecs_agent_data.json")
        assert root.sh("/usr/bin/amazon-ecs-agent -version").stdout.startswith("Amazon ECS Agent:")

        # purge: nothing left behind
        root.sh("dpkg --purge %s" % PKG)
        assert root.sh("dpkg-query -W -f='${Status}' %s" % PKG, check=False).stdout in ("", "unknown ok not-installed")
        after = root.snapshot()
        assert sorted(set(after) - set(before)) == [], "left behind"
        assert sorted(set(before) - set(after)) == [], "removed"
    finally:
        root.remove()
        docker_cleanup(cluster_name)
