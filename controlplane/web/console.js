// Local ECS console: polls /_local/console/data every second and renders the
// page named by the URL hash; actions go to /_local/console/api/<Operation>.
"use strict";

let data = null;
let cluster = localStorage.getItem("cluster") || "";

function h(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v);
  }
  for (const k of kids.flat()) e.append(k instanceof Node ? k : document.createTextNode(k === undefined || k === null ? "" : String(k)));
  return e;
}

function st(v) { return h("span", {class: String(v)}, v); }
function short(arn) { return arn ? String(arn).split("/").pop() : ""; }
function when(t) { return t ? new Date(t * 1000).toLocaleTimeString() : ""; }

function table(headers, rows, id) {
  const t = h("table", id ? {id} : {}, h("tr", {}, headers.map((x) => h("th", {}, x))));
  for (const r of rows) t.append(r);
  return t;
}

async function api(op, body) {
  const r = await fetch("/_local/console/api/" + op, {method: "POST", headers: {"Content-Type": "application/json"},
                                                      body: JSON.stringify(body)});
  const j = await r.json();
  if (!r.ok) throw new Error((j.__type || "").split("#").pop() + ": " + j.message);
  return j;
}

function resources(list, name) {
  const r = (list || []).find((x) => x.name === name);
  return r ? r.integerValue : "";
}

function renderClusters() {
  const rows = data.clusters.map((c) => h("tr", {},
    h("td", {}, h("a", {href: "#instances", onclick: () => pick(c.clusterName)}, c.clusterName)),
    h("td", {}, st(c.status)), h("td", {}, c.registeredContainerInstancesCount),
    h("td", {}, c.activeServicesCount), h("td", {}, c.runningTasksCount), h("td", {}, c.pendingTasksCount)));
  return [table(["Cluster", "Status", "Instances", "Services", "Running tasks", "Pending tasks"], rows, "clusters-table")];
}

function renderInstances() {
  const rows = data.containerInstances.filter((i) => i.clusterName === cluster).map((i) => h("tr", {},
    h("td", {}, short(i.containerInstanceArn)), h("td", {}, i.ec2InstanceId), h("td", {}, st(i.status)),
    h("td", {}, st(i.agentConnected)), h("td", {}, (i.versionInfo || {}).agentVersion),
    h("td", {}, resources(i.remainingResources, "CPU") + " / " + resources(i.registeredResources, "CPU")),
    h("td", {}, resources(i.remainingResources, "MEMORY") + " / " + resources(i.registeredResources, "MEMORY")),
    h("td", {}, i.runningTasksCount), h("td", {}, i.pendingTasksCount),
    h("td", {}, i.agentUpdateStatus ? st(i.agentUpdateStatus) : "")));
  return [table(["Instance", "EC2 id", "Status", "Agent connected", "Agent", "CPU free / total",
                 "Memory free / total", "Running", "Pending", "Update"], rows, "instances-table")];
}

function renderServices() {
  const out = [];
  for (const s of data.services.filter((x) => x.clusterName === cluster)) {
    const input = h("input", {type: "number", min: "0", value: s.desiredCount, class: "scale-count"});
    const deps = s.deployments.map((d) => h("tr", {}, h("td", {}, d.id), h("td", {}, st(d.status)),
      h("td", {}, short(d.taskDefinition)), h("td", {}, d.desiredCount), h("td", {}, d.runningCount),
      h("td", {}, d.pendingCount), h("td", {}, st(d.rolloutState || ""))));
    out.push(h("div", {class: "card service", "data-service": s.serviceName},
      h("h3", {}, s.serviceName, " ", st(s.status)),
      h("div", {}, "desired ", s.desiredCount, ", running ", s.runningCount, ", pending ", s.pendingCount,
        " · task definition ", short(s.taskDefinition), " · ",
        input, h("button", {class: "scale", onclick: () => act("UpdateService",
          {cluster, service: s.serviceName, desiredCount: parseInt(input.value, 10)})}, "Scale")),
      table(["Deployment", "Status", "Task definition", "Desired", "Running", "Pending", "Rollout"], deps),
      h("ul", {class: "events"}, s.events.map((e) => h("li", {}, when(e.createdAt), " ", e.message)))));
  }
  if (!out.length) out.push(h("p", {class: "muted"}, "No services in this cluster."));
  return out;
}

function renderTasks() {
  const rows = data.tasks.filter((t) => t.clusterName === cluster).map((t) => h("tr", {"data-task": t.taskArn, class: "task"},
    h("td", {}, short(t.taskArn)), h("td", {}, short(t.taskDefinitionArn)),
    h("td", {class: "last-status"}, st(t.lastStatus)), h("td", {}, st(t.desiredStatus)),
    h("td", {}, t.group || ""), h("td", {}, short(t.containerInstanceArn)),
    h("td", {}, t.containers.map((c) => h("div", {}, c.name, ": ", st(c.lastStatus),
      c.exitCode !== undefined ? " exit " + c.exitCode : "", c.reason ? " (" + c.reason + ")" : "",
      (c.networkBindings || []).map((b) => " " + (b.bindIP || "") + ":" + b.hostPort + "->" + b.containerPort + "/" + (b.protocol || "tcp")).join(",")))),
    h("td", {}, [t.stopCode, t.stoppedReason].filter(Boolean).join(": ")),
    h("td", {}, when(t.startedAt)),
    h("td", {}, t.desiredStatus === "RUNNING" ? h("button", {class: "stop", onclick: () => act("StopTask",
      {cluster, task: t.taskArn, reason: "Stopped from the console"})}, "Stop") : "")));
  const tdSel = document.getElementById("run-td");
  const cur = tdSel.value;
  tdSel.replaceChildren(...data.taskDefinitions.map((f) => h("option", {value: f}, f)));
  if (cur) tdSel.value = cur;
  return [table(["Task", "Definition", "Last status", "Desired", "Group", "Instance", "Containers",
                 "Stop reason", "Started", ""], rows, "tasks-list")];
}

async function act(op, body) {
  const status = document.getElementById("status");
  try {
    await api(op, body);
    status.textContent = op + " done";
  } catch (e) {
    status.textContent = e.message;
  }
  refresh();
}

function pick(name) {
  cluster = name;
  localStorage.setItem("cluster", name);
}

function render() {
  if (!data) return;
  const sel = document.getElementById("cluster");
  const names = data.clusters.map((c) => c.clusterName);
  if (!names.includes(cluster)) cluster = names[0] || "";
  sel.replaceChildren(...names.map((n) => h("option", {value: n}, n)));
  sel.value = cluster;
  const page = (location.hash || "#clusters").slice(1);
  for (const a of document.querySelectorAll("nav a")) a.classList.toggle("active", a.dataset.page === page);
  for (const s of document.querySelectorAll(".page")) s.classList.toggle("active", s.id === "page-" + page);
  if (page === "clusters") document.getElementById("page-clusters").replaceChildren(...renderClusters());
  if (page === "instances") document.getElementById("page-instances").replaceChildren(...renderInstances());
  if (page === "services") {
    const root = document.getElementById("page-services");
    if (!root.contains(document.activeElement)) root.replaceChildren(...renderServices());
  }
  if (page === "tasks") document.getElementById("tasks-table").replaceChildren(...renderTasks());
  document.body.dataset.loaded = "1";
}

async function refresh() {
  try {
    const r = await fetch("/_local/console/data");
    data = await r.json();
    render();
  } catch (e) {
    document.getElementById("status").textContent = "control plane unreachable";
  }
}

document.getElementById("cluster").addEventListener("change", (e) => { pick(e.target.value); render(); });
window.addEventListener("hashchange", render);
document.getElementById("run-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const out = document.getElementById("run-result");
  try {
    const r = await api("RunTask", {cluster, taskDefinition: document.getElementById("run-td").value,
                                    count: parseInt(document.getElementById("run-count").value, 10)});
    out.textContent = "started " + r.tasks.length + (r.failures.length ? ", failures: " + r.failures.map((f) => f.reason).join(", ") : "");
  } catch (err) {
    out.textContent = err.message;
  }
  refresh();
});
refresh();
setInterval(refresh, 1000);
