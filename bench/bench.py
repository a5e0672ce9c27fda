#!/usr/bin/python3
"""bench.py - the agent benchmarks (run by bench/run.sh, i.e. `make bench`).

Runs the real agent binary against the local control plane (bench/cp_bench.py:
controlplane/ plus bench-only admin hooks) on the real Docker engine and measures:

  startup   process start -> registered -> ACS connected -> first task RUNNING
  idle      RSS / PSS / private memory and CPU time of the idle agent with 0, 10, 50 running tasks
  launch    PayloadMessage of N tasks sent -> RUNNING submitted for all N (N = 1, 10, 50),
            against bench/direct_launch (create+start only, same concurrency)
  stop      Docker `die` (timeNano) -> the container's STOPPED state change at the control plane
  churn     500 short tasks in waves: RSS before/after, CPU time per task
  footprint the released (static) and the development (dynamic) binary side by side: RSS / PSS /
            private memory and CPU, idle, registered, ACS connected, one running task
  loaded    launch N = 10, 50 (agent against direct) with both cores busy (stress-ng --cpu 0)

Prints a table (each number next to its target) and writes out/bench/results.json.
Environment knobs (defaults in brackets):
  BENCH_IDLE_SECONDS [300]      idle period with 0 tasks
  BENCH_TASK_IDLE_SECONDS [30]  idle period with 10 and with 50 running tasks
  BENCH_LAUNCH_REPS [5]         repetitions per N (median reported; N=50 uses max(1, reps-1))
  BENCH_STOP_EXITS [100]        container exits measured for stop reporting
  BENCH_CHURN_TASKS [500]       churn tasks, BENCH_CHURN_WAVE [50] per wave
  BENCH_STARTUP_RUNS [3]        fresh agent starts for the start-up numbers
  BENCH_PHASES                  comma list of phases to run (startup,footprint,idle,launch,stop,churn,loaded,concurrency)
  BENCH_CONCURRENCY_LIMITS [0,4,8]  ECS_LAUNCH_CONCURRENCY values of the concurrency phase (0 = unlimited)
  BENCH_CONCURRENCY_N [50], BENCH_CONCURRENCY_REPS [3]  its burst size and repetitions
  BENCH_FOOTPRINT_SECONDS [60]  idle period of each build in the footprint phase
  STATIC_BIN                    static agent [out/release/amazon-ecs-agent-static, built by run.sh]
  BENCH_AGENT_LOGFILE [1]       1: the agent also writes ECS_LOGFILE (debug level), as in production
  AGENT_BIN                     agent binary [out/amazon-ecs-agent]
  BENCH_VALGRIND                e.g. "--tool=callgrind" or "--tool=massif": run the main agent under valgrind
  BENCH_TRIM_PROBE [0]          1: after each idle sample, gdb calls malloc_trim(0) in the agent and samples again
                                (how much RSS is free heap kept by glibc rather than live data)
  BENCH_AGENT_ENV               extra agent environment, "K=V K2=V2" (e.g. ECS_LOGLEVEL=debug)
  BENCH_AGENT_WRAPPER           command prefix for every agent, {name} = run name (e.g. strace -f -tt -o out/bench/{name}.strace)
"""

import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import threading
import time
import uuid

from bench_lib import (
    ROOT,
    OUT,
    WORK,
    TEST_LABEL,
    IDLE_S,
    TASK_IDLE_S,
    LAUNCH_REPS,
    STOP_EXITS,
    CHURN_TASKS,
    CHURN_WAVE,
    STARTUP_RUNS,
    CONCURRENCY_LIMITS,
    CONCURRENCY_N,
    CONCURRENCY_REPS,
    PHASES,
    FOOTPRINT_S,
    AGENT_LOGFILE,
    AGENT_BIN,
    STATIC_BIN,
    DIRECT_BIN,
    VALGRIND,
    TRIM_PROBE,
    IMAGE,
    CLEANUP_WAIT,
    LONG_CMD,
    T0,
    log,
    wait_for,
    _quiet,
    pct,
    docker,
    docker_rm_label,
    ControlPlane,
    Agent,
    DockerEvents,
    new_cluster,
    register_td,
    wait_cleanup,
)

class Bench:
    def __init__(self):
        self.cp = ControlPlane()
        self.res = {}
        self.agent = None
        self.cluster = None

    # ---------------------------------------------------------------- startup
    def phase_startup(self):
        td = register_td(self.cp, "bench-startup", LONG_CMD)
        runs = []
        for i in range(STARTUP_RUNS):
            cluster = new_cluster(self.cp, "bench-start")
            self.cp.admin("/_local/bench/on_register", {"cluster": cluster, "taskDefinition": td})
            a = Agent(self.cp, "startup-%d" % i, cluster)
            t0 = a.t_start
            try:
                def first_running():
                    if not a.alive():
                        raise RuntimeError("agent exited with %s:\n%s" % (a.proc.returncode, a.tail()))
                    ev = self.cp.events.poll()
                    placed = [e for e in ev.by_kind.get("bench_placed", []) if cluster in e["taskArn"]]
                    if not placed:
                        return None
                    return ev.running_at(placed[0]["taskArn"])
                t_run = wait_for(first_running, 60, "first task RUNNING (startup run %d)" % i)
                ev = self.cp.events
                reg = [e for e in ev.by_kind.get("bench_api", [])
                       if e.get("op") == "RegisterContainerInstance" and e.get("cluster") in (cluster,)]
                inst = reg[0]["containerInstanceArn"] if reg else None
                ws = [e for e in ev.by_kind.get("ws_connect", []) if e.get("containerInstanceArn") == inst]
                disc = [e for e in ev.by_kind.get("bench_api", []) if e.get("op") == "DiscoverPollEndpoint"
                        and (e.get("containerInstance") == inst or (e.get("cluster") or "").endswith(cluster))]
                log_reg = a.first_line("registered container instance")
                log_acs = a.first_line("acs", "connected")
                r = {
                    "registered_ms": (reg[0]["time"] - t0) * 1000 if reg else None,
                    "registered_log_ms": (log_reg[0] - t0) * 1000 if log_reg else None,
                    "discover_poll_endpoint_ms": (disc[0]["time"] - t0) * 1000 if disc else None,
                    "acs_connected_ms": (ws[0]["time"] - t0) * 1000 if ws else None,
                    "acs_connected_log_ms": (log_acs[0] - t0) * 1000 if log_acs else None,
                    "first_task_running_ms": (t_run - t0) * 1000,
                }
                runs.append(r)
                log("startup run %d: %s" % (i, {k: (round(v, 1) if v is not None else None) for k, v in r.items()}))
            finally:
                a.stop()
                docker_rm_label("label=com.amazonaws.ecs.cluster=" + cluster)
                time.sleep(1)  # a gap between measured start-ups, not a synchronisation
        med = {}
        for k in runs[0]:
            vals = [r[k] for r in runs if r[k] is not None]
            med[k] = statistics.median(vals) if vals else None
        self.res["startup"] = {"runs": runs, "median": med}

    # ---------------------------------------------------------------- main agent
    def start_main(self):
        self.cluster = new_cluster(self.cp, "bench-main")
        self.agent = Agent(self.cp, "main", self.cluster, valgrind=VALGRIND or None)
        self.agent.wait_connected(120 if VALGRIND else 60)
        self.td_long = register_td(self.cp, "bench-long", LONG_CMD)
        self.td_short = register_td(self.cp, "bench-short", ["sh", "-c", "usleep 200000"])
        self.wait_initial_ack()
        self.res["agent"] = {"pid": self.agent.pid, "registered_sample": self.agent.sample()}

    def wait_initial_ack(self):
        """Waits until the main agent has acknowledged its first payload (the
        one sent on connect), i.e. its start-up work is done."""
        inst = self.agent.instance_arn()

        def acked():
            if not self.agent.alive():
                raise RuntimeError("agent exited with %s:\n%s" % (self.agent.proc.returncode, self.agent.tail()))
            self.cp.events.poll()
            return any(e.get("containerInstanceArn") == inst for e in self.cp.events.by_kind.get("AckRequest", []))
        wait_for(acked, 60, "the first payload acknowledged by main")

    def wait_settled(self, n_tasks, what):
        """Waits until the main agent's checkpoint holds n_tasks tasks, each
        where it should be and reported (known = desired = sent), and no queued
        state change: its work is done and saved.  Warns after 60 s (and at
        once for an agent without a checkpoint)."""
        path = os.path.join(self.agent.dir, "data", "ecs_agent_data.json")
        if not os.path.exists(path):
            log("warning: %s: no checkpoint at %s to wait on" % (what, path))
            return False

        def settled():
            with open(path) as f:
                d = json.load(f).get("Data") or {}
            tasks = (d.get("TaskEngine") or {}).get("Tasks") or []
            if len(tasks) != n_tasks or (d.get("StateChanges") or {}).get("Queue") != []:
                return False
            return all(t.get("KnownStatus") == t.get("DesiredStatus") == t.get("SentStatus") for t in tasks)
        try:
            wait_for(lambda: _quiet(settled), 60, what, interval=0.2)
            return True
        except TimeoutError as e:
            log("warning: %s" % e)
            return False

    def idle(self, seconds, label):
        """Samples the agent every second for `seconds`; returns the footprint."""
        # Docker events the agent's stream receives (label com.amazonaws.ecs.task-arn) that are not its own:
        # other agents' containers on a shared engine cost the "idle" agent CPU
        counter = {"n": 0}
        evp = subprocess.Popen(["docker", "events", "--filter", "type=container", "--filter",
                                "label=com.amazonaws.ecs.task-arn", "--format", "{{json .Actor.Attributes}}"],
                               stdout=subprocess.PIPE, text=True)

        def count():
            for line in evp.stdout:
                if ("com.amazonaws.ecs.cluster\":\"%s\"" % self.cluster) not in line:
                    counter["n"] += 1
        threading.Thread(target=count, daemon=True).start()
        s0 = self.agent.sample()
        samples = [s0]
        end = time.time() + seconds
        try:
            while time.time() < end:
                time.sleep(min(1.0, max(0.0, end - time.time())))  # sampling interval of the measurement window
                samples.append(self.agent.sample())
        finally:
            evp.terminate()
            evp.wait()
        s1 = samples[-1]
        el = s1["t"] - s0["t"]
        r = {
            "seconds": el,
            "rss_kib": s1["Rss"], "pss_kib": s1.get("Pss"), "private_kib": s1["private"],
            "anon_kib": s1.get("Anonymous"),
            "rss_max_kib": max(s["Rss"] for s in samples),
            # the program's code pages are handed back when the loop is quiet and
            # fault back in as it works (src/core/memory.c): RSS moves within the
            # window, so its mean over every 1 s sample is reported too
            "rss_mean_kib": round(sum(s["Rss"] for s in samples) / len(samples)),
            "cpu_s": s1["cpu"] - s0["cpu"],
            "cpu_pct": (s1["cpu"] - s0["cpu"]) / el * 100.0 if el > 0 else None,
            "foreign_docker_events": counter["n"],
        }
        if TRIM_PROBE:
            # diagnostic: how much of the RSS is free heap glibc kept (malloc high-water), not live data
            subprocess.run(["gdb", "-p", str(self.agent.pid), "-batch", "-ex", "call (int) malloc_trim(0)"],
                           capture_output=True, timeout=60)
            s2 = self.agent.sample()
            r["rss_after_malloc_trim_kib"] = s2["Rss"]
            r["private_after_malloc_trim_kib"] = s2["private"]
        log("idle %s: %s" % (label, {k: (round(v, 3) if isinstance(v, float) else v) for k, v in r.items()}))
        return r

    def phase_idle(self):
        self.res.setdefault("idle", {})["0"] = self.idle(IDLE_S, "0 tasks")

    # ---------------------------------------------------------------- footprint
    def phase_footprint(self):
        """Each build idle with one running task, one after the other (the
        main agent does not run yet): what a user of the released image or of
        a development build pays at rest."""
        out = {}
        for build, binary in (("static", STATIC_BIN), ("dynamic", AGENT_BIN)):
            if not os.access(binary, os.X_OK):
                raise RuntimeError("%s build missing: %s" % (build, binary))
            self.cluster = new_cluster(self.cp, "bench-fp")
            self.agent = Agent(self.cp, "fp-" + build, self.cluster, binary=binary)
            try:
                self.agent.wait_connected(60)
                td = register_td(self.cp, "bench-fp", LONG_CMD)
                self.wait_initial_ack()
                arns = self.run_tasks(td, 1)["taskArns"]
                ev = self.cp.events
                ev.wait_all(arns, ev.running_at, 60, "RUNNING of the footprint task", interval=0.1)
                self.wait_settled(1, "footprint task settled (%s)" % build)
                out[build] = self.idle(FOOTPRINT_S, "%s build, 1 task" % build)
                out[build]["binary_bytes"] = os.path.getsize(binary)
                self.stop_tasks(arns)
            finally:
                self.agent.stop()
                docker_rm_label("label=com.amazonaws.ecs.cluster=" + self.cluster)
                self.agent, self.cluster = None, None
        self.res["footprint"] = out

    # ---------------------------------------------------------------- launch
    def run_tasks(self, td, n, overrides=None):
        body = {"cluster": self.cluster, "taskDefinition": td, "count": n}
        if overrides:
            body["overrides"] = overrides
        return self.cp.admin("/_local/bench/run_tasks", body)

    def stop_tasks(self, arns):
        r = self.cp.admin("/_local/bench/stop_tasks", {"cluster": self.cluster, "tasks": arns})
        self.cp.events.wait_all(arns, lambda a: True if self.cp.events.task_stopped(a) else None, 120,
                                "STOPPED of %d tasks" % len(arns), interval=0.2)
        return r

    def launch_agent(self, n):
        dev = DockerEvents("com.amazonaws.ecs.cluster=" + self.cluster, ("create", "start"))
        try:
            r = self.run_tasks(self.td_long, n)
            arns = r["taskArns"]
            ev = self.cp.events
            ev.wait_all(arns, ev.running_at, 60 + 3 * n, "RUNNING of %d tasks" % n, interval=0.1)
            dev.wait_seen(lambda: all(dev.get("start", (a, "main")) for a in arns),
                          "docker start events of %d tasks" % n)
        finally:
            dev.stop()
        t0 = r["sendStart"]
        last = max(ev.running_at(a) for a in arns)
        out = {"ms": (last - t0) * 1000.0, "send_ms": (r["sendEnd"] - t0) * 1000.0,
               "first_ms": (min(ev.running_at(a) for a in arns) - t0) * 1000.0}
        # decomposition with Docker's own event times
        creates = [dev.get("create", (a, "main")) for a in arns]
        starts = [dev.get("start", (a, "main")) for a in arns]
        if all(creates) and all(starts):
            after = [(ev.running_at(a) - st[0]) * 1000.0 for a, st in zip(arns, starts)]
            # containers Docker showed created and not yet started, most at once
            edges = sorted([(c[0], 1) for c in creates] + [(st[0], -1) for st in starts], key=lambda e: (e[0], e[1]))
            cur = peak = 0
            for _, d in edges:
                cur += d
                peak = max(peak, cur)
            out["max_created_not_started"] = peak
            out.update({
                "first_create_event_ms": (min(c[0] for c in creates) - t0) * 1000.0,
                "last_start_event_ms": (max(st[0] for st in starts) - t0) * 1000.0,
                "running_after_start_event_ms_median": statistics.median(after),
                "running_after_start_event_ms_max": max(after),
            })
        return out, arns

    def launch_direct(self, n):
        tag = uuid.uuid4().hex[:8]
        dev = DockerEvents("ecs-agent-c-bench=direct-" + tag, ("create", "start"))
        cmd = [DIRECT_BIN, "-n", str(n), "-c", str(n), "-i", IMAGE, "-p", "bench-direct-" + tag,
               "-m", "32", "-u", "10", "-l", TEST_LABEL, "-l", "ecs-agent-c-bench=direct-" + tag, "--"] + LONG_CMD
        try:
            p = subprocess.run(cmd, capture_output=True, text=True)
            if p.returncode == 0:
                dev.wait_seen(lambda: len(dev.times("start")) >= n, "docker start events of %d direct launches" % n)
        finally:
            dev.stop()
        try:
            d = json.loads(p.stdout)
        except ValueError:
            raise RuntimeError("direct_launch failed: %s %s" % (p.stdout, p.stderr))
        if d["ok"] != n:
            raise RuntimeError("direct_launch: %s" % d["errors"][:3])
        docker_rm_label("label=ecs-agent-c-bench=direct-" + tag)
        out = {"ms": d["elapsed_ms"], "first_ms": d["done_ms"][0] if d["done_ms"] else None}
        cr, st = dev.times("create"), dev.times("start")
        if len(cr) == n and len(st) == n:
            out["first_create_event_ms"] = (min(cr) - d["start"]) * 1000.0
            out["last_start_event_ms"] = (max(st) - d["start"]) * 1000.0
        return out

    def phase_launch(self, ns=(1, 10, 50), key="launch", sample_idle=True):
        out = {}
        idle = self.res.setdefault("idle", {})
        for n in ns:
            reps = LAUNCH_REPS if n < 50 else max(1, LAUNCH_REPS - 1)
            ag, di = [], []
            for rep in range(reps):
                wait_cleanup(self.cluster)
                a, arns = self.launch_agent(n)
                ag.append(a)
                log("launch N=%d rep %d: agent %s" % (n, rep, {k: round(v, 1) for k, v in a.items()}))
                if sample_idle and rep == reps - 1 and n in (10, 50):
                    self.wait_settled(n, "%d running tasks settled" % n)
                    idle[str(n)] = self.idle(TASK_IDLE_S, "%d tasks" % n)
                self.stop_tasks(arns)
                wait_cleanup(self.cluster)
                d = self.launch_direct(n)
                di.append(d)
                log("launch N=%d rep %d: direct %s" % (n, rep, {k: round(v, 1) for k, v in d.items() if v is not None}))
            am = statistics.median(x["ms"] for x in ag)
            dm = statistics.median(x["ms"] for x in di)
            out[str(n)] = {"agent_ms": am, "direct_ms": dm, "ratio": am / dm if dm else None,
                           "agent_runs": ag, "direct_runs": di}
            for k in ("first_create_event_ms", "last_start_event_ms", "running_after_start_event_ms_median",
                      "running_after_start_event_ms_max"):
                va = [x[k] for x in ag if k in x]
                if va:
                    out[str(n)]["agent_" + k] = statistics.median(va)
                vd = [x[k] for x in di if k in x]
                if vd:
                    out[str(n)]["direct_" + k] = statistics.median(vd)
        self.res[key] = out

    def phase_concurrency(self):
        """A burst of BENCH_CONCURRENCY_N (50) tasks in one payload with
        ECS_LAUNCH_CONCURRENCY at each of BENCH_CONCURRENCY_LIMITS (0 =
        unlimited): payload sent -> all RUNNING (median of
        BENCH_CONCURRENCY_REPS), one fresh agent per limit."""
        out = {}
        main_agent, main_cluster = self.agent, self.cluster
        try:
            for lim in CONCURRENCY_LIMITS:
                self.cluster = new_cluster(self.cp, "bench-conc")
                self.agent = Agent(self.cp, "conc-%d" % lim, self.cluster, env={"ECS_LAUNCH_CONCURRENCY": str(lim)})
                try:
                    self.agent.wait_connected(60)
                    self.wait_initial_ack()
                    runs = []
                    for rep in range(CONCURRENCY_REPS):
                        wait_cleanup(self.cluster)
                        a, arns = self.launch_agent(CONCURRENCY_N)
                        runs.append(a)
                        log("concurrency limit %d N=%d rep %d: %s" % (lim, CONCURRENCY_N, rep,
                                                                      {k: round(v, 1) for k, v in a.items()}))
                        self.stop_tasks(arns)
                    out[str(lim)] = {"ms": statistics.median(r["ms"] for r in runs), "runs": runs}
                finally:
                    self.agent.stop()
                    docker_rm_label("label=com.amazonaws.ecs.cluster=" + self.cluster)
        finally:
            self.agent, self.cluster = main_agent, main_cluster
        self.res["concurrency"] = {"n": CONCURRENCY_N, "limits": out}

    def phase_loaded(self):
        """The launch comparison with both cores busy (real hosts are): one
        stress-ng CPU worker per core at normal priority (a busy host's load,
        not a niced batch job), during both the agent's and the direct
        client's runs."""
        if shutil.which("stress-ng") is None:
            raise RuntimeError("stress-ng missing (make deps installs it)")
        load = subprocess.Popen(["stress-ng", "--cpu", "0", "--quiet"], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        try:
            self.phase_launch(ns=(10, 50), key="launch_loaded", sample_idle=False)
        finally:
            load.terminate()
            load.wait()

    # ---------------------------------------------------------------- stop reporting
    def phase_stop(self):
        wait_cleanup(self.cluster)
        dev = DockerEvents("com.amazonaws.ecs.cluster=" + self.cluster, ("die",))
        wave = 10
        lat, vias, all_arns, detail = [], {}, [], []
        try:
            done = 0
            while done < STOP_EXITS:
                k = min(wave, STOP_EXITS - done)
                # staggered exits 1.5 s .. 3.3 s after each start, 200 ms apart
                ovs = [{"containerOverrides": [{"name": "main", "command": ["sh", "-c", "usleep %d" % (1500000 + 200000 * i)]}]}
                       for i in range(k)]
                r = self.run_tasks(self.td_short, k, ovs)
                arns = r["taskArns"]
                all_arns += arns
                ev = self.cp.events
                ev.wait_all(arns, ev.stopped_at, 90, "STOPPED of %d containers" % k, interval=0.5)
                done += k
            dev.wait_seen(lambda: all(dev.get("die", (a, "main")) for a in all_arns),
                          "docker die events of %d containers" % len(all_arns))
            if True:
                for arn in all_arns:
                    d = dev.get("die", (arn, "main"))
                    s = self.cp.events.stopped_at(arn)
                    if d and s:
                        lat.append((s[0] - d[0]) * 1000.0)
                        vias[s[1]] = vias.get(s[1], 0) + 1
                        detail.append({"task": arn, "docker_id": d[1], "die": d[0], "reported": s[0]})
        finally:
            dev.stop()
        if not lat:
            raise RuntimeError("no die events matched (docker events labels?)")
        self.res["stop"] = {"n": len(lat), "expected": STOP_EXITS, "median_ms": statistics.median(lat),
                            "p99_ms": pct(lat, 99), "max_ms": max(lat), "min_ms": min(lat), "via": vias,
                            "samples_ms": sorted(lat), "detail": detail}
        log("stop reporting: n=%d median %.1f ms p99 %.1f ms max %.1f ms via %s"
            % (len(lat), statistics.median(lat), pct(lat, 99), max(lat), vias))

    # ---------------------------------------------------------------- churn
    def phase_churn(self):
        wait_cleanup(self.cluster)
        self.wait_settled(0, "the agent settled after cleanup (before churn)")
        before = self.agent.sample()
        log("churn: %d tasks in waves of %d; RSS before %d KiB" % (CHURN_TASKS, CHURN_WAVE, before["Rss"]))
        done, w = 0, 0
        t0 = time.time()
        while done < CHURN_TASKS:
            k = min(CHURN_WAVE, CHURN_TASKS - done)
            ev = self.cp.events
            if w % 2 == 0:   # tasks whose container exits by itself
                arns = self.run_tasks(self.td_short, k)["taskArns"]
                ev.wait_all(arns, lambda a: True if ev.task_stopped(a) else None, 60 + 3 * k,
                            "STOPPED of churn wave %d" % w, interval=0.2)
            else:            # tasks stopped through ACS (StopTask)
                arns = self.run_tasks(self.td_long, k)["taskArns"]
                ev.wait_all(arns, ev.running_at, 60 + 3 * k, "RUNNING of churn wave %d" % w, interval=0.2)
                self.stop_tasks(arns)
            done += k
            w += 1
            log("churn: %d/%d (RSS %d KiB)" % (done, CHURN_TASKS, self.agent.sample()["Rss"]))
        wait_cleanup(self.cluster, 300)
        self.wait_settled(0, "the agent settled after cleanup (after churn)")
        after = self.agent.sample()
        self.res["churn"] = {
            "tasks": CHURN_TASKS, "seconds": time.time() - t0,
            "rss_before_kib": before["Rss"], "rss_after_kib": after["Rss"],
            "rss_growth_pct": (after["Rss"] - before["Rss"]) / before["Rss"] * 100.0,
            "private_before_kib": before["private"], "private_after_kib": after["private"],
            "cpu_s": after["cpu"] - before["cpu"],
            "cpu_ms_per_task": (after["cpu"] - before["cpu"]) / CHURN_TASKS * 1000.0,
        }
        log("churn: %s" % self.res["churn"])

    # ---------------------------------------------------------------- run
    def run(self):
        errors = self.res.setdefault("errors", {})

        host = self.res.setdefault("host", {})

        def attempt(name, fn):
            b0, t0 = host_cpu()
            try:
                fn()
                return True
            except Exception as e:  # noqa: BLE001 - one phase failing does not hide the others
                import traceback
                traceback.print_exc()
                errors[name] = "%s: %s" % (type(e).__name__, e)
                log("phase %s FAILED: %s" % (name, errors[name]))
                return False
            finally:
                b1, t1 = host_cpu()
                host[name] = {"host_cpu_busy_pct": 100.0 * (b1 - b0) / max(1, t1 - t0), "loadavg_after": loadavg()}

        try:
            if "startup" in PHASES:
                log("phase startup (%d runs)" % STARTUP_RUNS)
                attempt("startup", self.phase_startup)
            if "footprint" in PHASES:
                log("phase footprint (%d s per build)" % FOOTPRINT_S)
                attempt("footprint", self.phase_footprint)
            if any(p in PHASES for p in ("idle", "launch", "stop", "churn", "loaded", "concurrency")):
                if not attempt("start", self.start_main):
                    raise RuntimeError("the main agent did not start: " + errors["start"])
                for p in ("idle", "launch", "stop", "churn", "loaded", "concurrency"):
                    if p in PHASES:
                        if not self.agent.alive():
                            errors[p] = "agent exited with %s before the phase" % self.agent.proc.returncode
                            continue
                        log("phase %s" % p)
                        attempt(p, getattr(self, "phase_" + p))
                s = self.agent.sample()
                self.res["agent"]["final_sample"] = s
                self.res["agent"]["cpu_total_s"] = s["cpu"]
                self.res["agent"]["rss_peak_kib"] = s.get("VmHWM")
        finally:
            if self.agent:
                self.res.setdefault("agent", {})["exit_code"] = self.agent.stop()
            if self.cluster:
                docker_rm_label("label=com.amazonaws.ecs.cluster=" + self.cluster)
            docker_rm_label("label=ecs-agent-c-bench")
            self.cp.stop()
        return self.res


# --------------------------------------------------------------------------- report
def host_cpu():
    """(busy, total) jiffies of the whole host from /proc/stat."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + (v[4] if len(v) > 4 else 0)
    return sum(v) - idle, sum(v)


def loadavg():
    with open("/proc/loadavg") as f:
        return [float(x) for x in f.read().split()[:3]]


def machine():
    m = {"nproc": os.cpu_count(), "kernel": platform.release()}
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                m["mem_gib"] = round(int(line.split()[1]) / 1024 / 1024, 1)
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                m["cpu"] = line.split(":", 1)[1].strip()
                break
    m["docker"] = docker("version", "--format", "{{.Server.Version}}").stdout.strip()
    m["storage_driver"] = docker("info", "--format", "{{.Driver}}").stdout.strip()
    try:
        m["agent_version"] = subprocess.run([AGENT_BIN, "-version"], capture_output=True, text=True,
                                            timeout=10).stdout.strip().splitlines()[0]
    except Exception:  # noqa: BLE001
        m["agent_version"] = None
    m["git"] = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True).stdout.strip()
    return m


def table(res):
    rows = []  # (metric, value text, target text, met: True/False/None)

    def row(name, value, fmt, target=None, ok=None):
        rows.append({"metric": name, "value": value, "text": (fmt % value) if value is not None else "n/a",
                     "target": target or "", "met": ok})

    st = res.get("startup", {}).get("median")
    if st:
        def both(cpk, logk):
            f = lambda v: "n/a" if v is None else "%.1f" % v  # noqa: E731
            return "%s / %s ms" % (f(st[cpk]), f(st[logk]))
        row("startup: process start -> registered (control plane / agent log)", st["registered_ms"], "%.1f ms")
        rows[-1]["text"] = both("registered_ms", "registered_log_ms")
        acs = st["acs_connected_ms"]
        row("startup: process start -> ACS connected (control plane / agent log)", acs, "%.1f ms", "<= 50 ms",
            None if acs is None else acs <= 50)
        rows[-1]["text"] = both("acs_connected_ms", "acs_connected_log_ms")
        row("startup: process start -> first task RUNNING", st["first_task_running_ms"], "%.1f ms")
    for build, f in sorted(res.get("footprint", {}).items(), key=lambda kv: kv[0] != "static"):
        tgt = "<= 4096 KiB" if build == "static" else None
        mean = f.get("rss_mean_kib", f["rss_kib"])
        row("footprint, %s build (1 task, %ds): RSS mean over the window" % (build, round(f["seconds"])), mean,
            "%d KiB", tgt, (mean <= 4096) if tgt else None)
        row("footprint, %s build: RSS last sample / max" % build, f["rss_kib"], "%d KiB")
        rows[-1]["text"] = "%s / %s KiB" % (f["rss_kib"], f["rss_max_kib"])
        row("footprint, %s build: PSS / private" % build, f["pss_kib"], "%d KiB")
        rows[-1]["text"] = "%s / %s KiB" % (f["pss_kib"], f["private_kib"])
        row("footprint, %s build: CPU" % build, f["cpu_pct"], "%.4f %% of one core")
    idle = res.get("idle", {})
    if "0" in idle:
        i0 = idle["0"]
        row("idle (0 tasks, %ds): RSS" % round(i0["seconds"]), i0["rss_kib"], "%d KiB")
        row("idle (0 tasks): PSS / private", i0["pss_kib"], "%d KiB", None, None)
        rows[-1]["text"] = "%s / %s KiB" % (i0["pss_kib"], i0["private_kib"])
        row("idle (0 tasks): CPU", i0["cpu_pct"], "%.4f %% of one core", "<= 0.1 %", i0["cpu_pct"] <= 0.1)
        if i0.get("foreign_docker_events"):
            row("idle (0 tasks): Docker events of other agents' containers received", i0["foreign_docker_events"],
                "%d")
    for n in ("10", "50"):
        if n in idle:
            r = idle[n]
            row("idle (%s tasks, %ds): RSS / private" % (n, round(r["seconds"])), r["rss_kib"], "%d KiB")
            rows[-1]["text"] = "%d / %d KiB" % (r["rss_kib"], r["private_kib"])
            row("idle (%s tasks): CPU" % n, r["cpu_pct"], "%.4f %% of one core")
    if "0" in idle and "50" in idle:
        m = (idle["50"]["rss_kib"] - idle["0"]["rss_kib"]) / 50.0
        mp = (idle["50"]["private_kib"] - idle["0"]["private_kib"]) / 50.0
        row("marginal memory per running task (RSS, 0->50)", m, "%.1f KiB", "<= 16 KiB", m <= 16)
        row("marginal memory per running task (private, 0->50)", mp, "%.1f KiB")
        if "10" in idle:
            m2 = (idle["50"]["rss_kib"] - idle["10"]["rss_kib"]) / 40.0
            row("marginal memory per running task (RSS, 10->50)", m2, "%.1f KiB")
    for n, d in res.get("launch", {}).items():
        row("launch N=%s: agent (payload sent -> all RUNNING)" % n, d["agent_ms"], "%.1f ms")
        row("launch N=%s: direct Docker create+start" % n, d["direct_ms"], "%.1f ms")
        tgt = "<= 1.05" if n in ("10", "50") else None
        row("launch N=%s: ratio agent/direct" % n, d["ratio"], "%.3f", tgt,
            (d["ratio"] <= 1.05) if tgt and d["ratio"] is not None else None)
    for n, d in res.get("launch_loaded", {}).items():
        row("launch N=%s, both cores busy: agent / direct" % n, d["agent_ms"], "%.1f ms")
        rows[-1]["text"] = "%.0f / %.0f ms" % (d["agent_ms"], d["direct_ms"])
        row("launch N=%s, both cores busy: ratio agent/direct" % n, d["ratio"], "%.3f", "<= 1.05",
            (d["ratio"] <= 1.05) if d["ratio"] is not None else None)
    cc = res.get("concurrency")
    if cc:
        base = cc["limits"].get("0", {}).get("ms")
        for lim, d in cc["limits"].items():
            name = "unlimited" if lim == "0" else lim
            row("launch N=%d, ECS_LAUNCH_CONCURRENCY=%s: payload -> all RUNNING" % (cc["n"], name), d["ms"], "%.1f ms")
            if base and lim != "0":
                row("launch N=%d, ECS_LAUNCH_CONCURRENCY=%s: ratio to unlimited" % (cc["n"], name), d["ms"] / base, "%.3f")
    s = res.get("stop")
    if s:
        row("stop reporting: die -> STOPPED at control plane, median (n=%d)" % s["n"], s["median_ms"], "%.1f ms")
        row("stop reporting: p99", s["p99_ms"], "%.1f ms", "<= 20 ms", s["p99_ms"] <= 20)
    c = res.get("churn")
    if c:
        row("churn (%d tasks): RSS before -> after" % c["tasks"], c["rss_before_kib"], "%d KiB")
        rows[-1]["text"] = "%d -> %d KiB" % (c["rss_before_kib"], c["rss_after_kib"])
        row("churn: RSS growth", c["rss_growth_pct"], "%+.2f %%", "<= 5 %", c["rss_growth_pct"] <= 5)
        row("churn: CPU time per task", c["cpu_ms_per_task"], "%.2f ms")
    a = res.get("agent", {})
    if a.get("cpu_total_s") is not None:
        row("agent total CPU over the bench / peak RSS (VmHWM)", a["cpu_total_s"], "%.2f s")
        rows[-1]["text"] = "%.2f s / %s KiB" % (a["cpu_total_s"], a.get("rss_peak_kib"))
    return rows


def render(rows, mach):
    w = max(len(r["metric"]) for r in rows) if rows else 10
    w = max(w, 40)
    wv = max(len(r["text"]) for r in rows) if rows else 10
    out = ["machine: %s CPUs (%s), %s GiB RAM, kernel %s, Docker %s (%s), agent %s, git %s"
           % (mach["nproc"], mach.get("cpu"), mach.get("mem_gib"), mach["kernel"], mach["docker"],
              mach.get("storage_driver"), mach.get("agent_version"), mach.get("git"))]
    if mach.get("host"):
        out.append("host CPU busy during each phase (all processes: agent, Docker, others): "
                   + ", ".join("%s %.0f%%" % (k, v["host_cpu_busy_pct"]) for k, v in mach["host"].items())
                   + "; loadavg at start %s" % (mach.get("loadavg_start"),))
    out.append("%-*s  %*s  %-10s  %s" % (w, "metric", wv, "value", "target", "met"))
    out.append("-" * (w + wv + 22))
    for r in rows:
        met = "" if r["met"] is None else ("yes" if r["met"] else "NO")
        out.append("%-*s  %*s  %-10s  %s" % (w, r["metric"], wv, r["text"], r["target"], met))
    return "\n".join(out)


def main():
    os.makedirs(OUT, exist_ok=True)
    os.makedirs(WORK, exist_ok=True)
    mach = machine()
    mach["loadavg_start"] = loadavg()
    config = {"idle_seconds": IDLE_S, "task_idle_seconds": TASK_IDLE_S, "launch_reps": LAUNCH_REPS,
              "stop_exits": STOP_EXITS, "churn_tasks": CHURN_TASKS, "churn_wave": CHURN_WAVE,
              "startup_runs": STARTUP_RUNS, "phases": PHASES, "agent_logfile": AGENT_LOGFILE,
              "cleanup_wait": CLEANUP_WAIT, "image": IMAGE, "agent_bin": AGENT_BIN, "valgrind": VALGRIND}
    b = Bench()
    err = None
    try:
        res = b.run()
    except Exception as e:  # noqa: BLE001 - report what we have
        import traceback
        traceback.print_exc()
        err = "%s: %s" % (type(e).__name__, e)
        res = b.res
    rows = table(res)
    mach["host"] = res.get("host")
    doc = {"machine": mach, "config": config, "results": res, "table": rows, "error": err,
           "elapsed_s": time.time() - T0, "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    with open(os.path.join(OUT, "results.json"), "w") as f:
        json.dump(doc, f, indent=1, default=str)
    print(render(rows, mach))
    print("elapsed %.0f s; results in %s" % (time.time() - T0, os.path.relpath(os.path.join(OUT, "results.json"), ROOT)))
    for phase, e in (res.get("errors") or {}).items():
        print("ERROR in phase %s: %s" % (phase, e))
    if err:
        print("ERROR: " + err)
    if err or res.get("errors"):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
