"""End to end: the web console (controlplane/console.py + controlplane/web/) in a real
browser (Debian's headless chromium over the DevTools protocol, tests/lib/browser.py)
against the control plane and the real agent: the pages load, a task started from the
console's Run task button appears RUNNING, its Stop button stops it and the page shows
STOPPED, a service's Scale button changes its desired count.  Screenshots of every page
go to out/console-<page>.png (the README shows one)."""

import os
import sys

from conftest import ROOT, register_task_def, wait_for

sys.path.insert(0, os.path.join(ROOT, "tests", "lib"))
from browser import Browser  # noqa: E402

OUT = os.path.join(ROOT, "out")


def row_status(task_arn):
    return ("(() => { const r = document.querySelector('tr[data-task=\"%s\"] .last-status');"
            " return r ? r.textContent : null; })()" % task_arn)


def test_console_run_stop_scale(make_agent, controlplane, cluster_name, test_image):
    a = make_agent()
    a.wait_registered()
    a.wait_connected()
    cp = controlplane
    td = register_task_def(cp, "console-web", test_image, [
        {"name": "web", "cpu": 10, "memory": 32, "entryPoint": ["/bin/sh", "-c"],
         "command": ["mkdir -p /www && echo hi > /www/index.html && exec httpd -f -p 8080 -h /www"],
         "portMappings": [{"containerPort": 8080, "hostPort": 0}]}])
    cp.ecs.create_service(cluster=cluster_name, serviceName="console-svc", taskDefinition=td, desiredCount=1)
    with Browser() as b:
        b.goto(cp.url + "/console/#clusters")
        b.wait_js("document.body.dataset.loaded === '1'", 60, "console loaded")
        b.js("localStorage.setItem('cluster', %r); location.reload(); true" % cluster_name)
        # one condition, evaluated in whichever document is current: right after
        # location.reload() the old page may still answer, and the new one may not have
        # rendered its table yet
        b.wait_js("document.body.dataset.loaded === '1' && ((document.querySelector('#clusters-table')"
                  " || {}).textContent || '').includes(%r)" % cluster_name, 60, "cluster shown after reload")
        b.screenshot(os.path.join(OUT, "console-clusters.png"))
        b.js("location.hash = '#instances'; true")
        b.wait_js("(document.querySelector('#instances-table') || {}).textContent"
                  " && document.querySelector('#instances-table').textContent.includes('true')", 30,
                  "instance shown connected")
        b.screenshot(os.path.join(OUT, "console-instances.png"))
        # the service's task runs; scale it to 2 from the console
        b.js("location.hash = '#services'; true")
        b.wait_js("!!document.querySelector('.service[data-service=\"console-svc\"]')", 30)
        wait_for(lambda: cp.ecs.describe_services(cluster=cluster_name, services=["console-svc"])[
            "services"][0]["runningCount"] == 1, 120, what="service task RUNNING")
        b.js("(() => { const s = document.querySelector('.service[data-service=\"console-svc\"]');"
             " s.querySelector('.scale-count').value = '2'; s.querySelector('button.scale').click(); return true; })()")
        wait_for(lambda: cp.ecs.describe_services(cluster=cluster_name, services=["console-svc"])[
            "services"][0]["desiredCount"] == 2, 30, what="scaled to 2")
        wait_for(lambda: cp.ecs.describe_services(cluster=cluster_name, services=["console-svc"])[
            "services"][0]["runningCount"] == 2, 120, what="2 service tasks RUNNING")
        b.wait_js("document.querySelector('.service[data-service=\"console-svc\"]').textContent"
                  ".includes('desired 2, running 2, pending 0')", 30, "service shown at 2 running")
        b.screenshot(os.path.join(OUT, "console-services.png"))
        # run a task from the console
        before = set(cp.ecs.list_tasks(cluster=cluster_name)["taskArns"])
        b.js("location.hash = '#tasks'; true")
        b.wait_js("!!document.querySelector('#run-td option[value=\"console-web\"]')", 30)
        b.js("document.querySelector('#run-td').value = 'console-web';"
             " document.querySelector('#run-task').click(); true")
        new = wait_for(lambda: set(cp.ecs.list_tasks(cluster=cluster_name)["taskArns"]) - before, 30,
                       what="task started from the console")
        arn = new.pop()
        b.wait_js(row_status(arn) + " === 'RUNNING'", 120, "task RUNNING in the page")
        b.wait_js("document.querySelector('tr[data-task=\"%s\"]').textContent.includes('->8080/tcp')" % arn, 30,
                  "port binding shown")
        b.screenshot(os.path.join(OUT, "console-tasks.png"))
        b.js("document.querySelector('tr[data-task=\"%s\"] button.stop').click(); true" % arn)
        b.wait_js(row_status(arn) + " === 'STOPPED'", 120, "task STOPPED in the page")
        assert "UserInitiated: Stopped from the console" in b.js(
            "document.querySelector('tr[data-task=\"%s\"]').textContent" % arn)
        b.screenshot(os.path.join(OUT, "console-tasks-stopped.png"))
    cp.ecs.update_service(cluster=cluster_name, service="console-svc", desiredCount=0)
    cp.ecs.delete_service(cluster=cluster_name, service="console-svc")
    wait_for(lambda: not cp.ecs.list_tasks(cluster=cluster_name)["taskArns"], 120, what="service tasks stopped")
    a.stop()
