// vsd's dashboard: the instances and their use against their limits,
// polled from the control API through the dashboard's own listener (the
// login cookie authenticates; what changes something also sends the
// X-Vsd-Dashboard header, which no other site's page can).
import "./style.css";
import { openConsole, type ConsoleView } from "./console";

interface Instance {
  name: string;
  state: string;
  ip: string;
  memory: number;
  cpus: number;
  disk: number;
  backend: string;
}

interface Stats {
  name: string;
  state: string;
  memory: { usage: number; limit: number };
  cpu: { usage_ns: number; limit: number };
  disk: { used: number; limit: number };
}

interface Sample {
  at: number; // ms
  cpuNs: number;
}

const POLL_MS = 2000;
const HISTORY = 60;
const FIELDS = "name,state,ip,memory,cpus,disk,backend";

const rows = new Map<string, HTMLTableRowElement>();
const last = new Map<string, Sample>();
const history = new Map<string, { mem: number[]; cpu: number[] }>();
let busy = new Set<string>();
let consoleView: { name: string; view: ConsoleView } | null = null;

function $(sel: string): HTMLElement {
  const e = document.querySelector<HTMLElement>(sel);
  if (!e) throw new Error(`missing ${sel}`);
  return e;
}

function status(text: string, error = false): void {
  const s = $("#status");
  s.textContent = text;
  s.className = error ? "error" : "";
}

async function api(method: string, path: string): Promise<Response> {
  const headers: Record<string, string> = {};
  if (method !== "GET") headers["X-Vsd-Dashboard"] = "1";
  const r = await fetch(path, { method, headers, credentials: "same-origin", cache: "no-store" });
  if (r.status === 401) {
    // the token changed, or the cookie is gone: back to the login form
    window.location.reload();
    throw new Error("not logged in");
  }
  return r;
}

async function json<T>(path: string): Promise<T> {
  const r = await api("GET", path);
  if (!r.ok) throw new Error(`${path}: ${r.status} ${(await r.json().catch(() => ({}))).error ?? ""}`);
  return (await r.json()) as T;
}

function bytes(n: number): string {
  const units = ["B", "K", "M", "G", "T"];
  let u = 0;
  while (n >= 1024 && u < units.length - 1) {
    n /= 1024;
    u++;
  }
  return `${n >= 10 || u === 0 ? n.toFixed(0) : n.toFixed(1)}${units[u]}`;
}

// a bar for use against a limit, and the figures beside it
function gauge(cell: HTMLElement, used: number | null, limit: number, fmt: (n: number) => string): void {
  cell.replaceChildren();
  const text = document.createElement("span");
  if (used === null) {
    text.textContent = limit ? `– / ${fmt(limit)}` : "–";
    cell.append(text);
    return;
  }
  text.textContent = limit ? `${fmt(used)} / ${fmt(limit)}` : `${fmt(used)} / no limit`;
  const bar = document.createElement("div");
  bar.className = "bar";
  const fill = document.createElement("div");
  const share = limit ? Math.min(1, used / limit) : 0;
  fill.style.width = `${(share * 100).toFixed(1)}%`;
  fill.className = share > 0.9 ? "hot" : "";
  bar.append(fill);
  cell.append(bar, text);
}

const SVG = "http://www.w3.org/2000/svg";

// a small line of the last samples, 0..max
function spark(values: number[], max: number): SVGSVGElement {
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", `0 0 ${HISTORY} 20`);
  svg.setAttribute("class", "spark");
  if (values.length > 1 && max > 0) {
    const pts = values.map((v, k) => `${k + HISTORY - values.length},${(20 - (Math.min(v, max) / max) * 19).toFixed(1)}`);
    const line = document.createElementNS(SVG, "polyline");
    line.setAttribute("points", pts.join(" "));
    svg.append(line);
  }
  return svg;
}

function row(name: string): HTMLTableRowElement {
  let tr = rows.get(name);
  if (tr) return tr;
  tr = document.createElement("tr");
  tr.dataset.name = name;
  for (const cls of ["name", "state", "ip", "memory", "cpu", "disk", "actions"]) {
    const td = document.createElement("td");
    td.className = cls;
    tr.append(td);
  }
  (tr.querySelector(".name") as HTMLElement).textContent = name;
  const actions = tr.querySelector(".actions") as HTMLElement;
  for (const action of ["start", "stop", "restart"]) {
    const b = document.createElement("button");
    b.type = "button";
    b.textContent = action;
    b.dataset.action = action;
    b.addEventListener("click", () => void act(name, action));
    actions.append(b);
  }
  const c = document.createElement("button");
  c.type = "button";
  c.textContent = "console";
  c.dataset.console = name;
  c.addEventListener("click", () => showConsole(name));
  actions.append(c);
  rows.set(name, tr);
  return tr;
}

function hideConsole(): void {
  consoleView?.view.close();
  consoleView = null;
  $("#console").hidden = true;
}

// one console at a time, below the list
function showConsole(name: string): void {
  hideConsole();
  const section = $("#console");
  section.hidden = false;
  $("#console-name").textContent = name;
  const view = openConsole(name, $("#term"), (text) => {
    $("#console-state").textContent = text;
  });
  consoleView = { name, view };
}

function render(list: Instance[], stats: Map<string, Stats>, now: number): void {
  const body = $("#instances tbody");
  const seen = new Set<string>();
  for (const i of list) {
    seen.add(i.name);
    const tr = row(i.name);
    body.append(tr); // keeps the API's order (by name)
    tr.dataset.state = i.state;
    const st = tr.querySelector(".state") as HTMLElement;
    st.textContent = busy.has(i.name) ? `${i.state}…` : i.state;
    st.className = `state ${i.state}`;
    (tr.querySelector(".ip") as HTMLElement).textContent = i.ip || "–";
    const s = stats.get(i.name);
    const h = history.get(i.name) ?? { mem: [], cpu: [] };
    history.set(i.name, h);
    let cpuShare: number | null = null;
    if (s) {
      const prev = last.get(i.name);
      if (prev && now > prev.at && s.cpu.usage_ns >= prev.cpuNs)
        cpuShare = (s.cpu.usage_ns - prev.cpuNs) / 1e6 / (now - prev.at); // CPUs
      last.set(i.name, { at: now, cpuNs: s.cpu.usage_ns });
      h.mem.push(s.memory.usage);
      h.cpu.push(cpuShare ?? 0);
      if (h.mem.length > HISTORY) h.mem.shift();
      if (h.cpu.length > HISTORY) h.cpu.shift();
    } else {
      last.delete(i.name);
      h.mem.length = 0;
      h.cpu.length = 0;
    }
    const mem = tr.querySelector(".memory") as HTMLElement;
    gauge(mem, s ? s.memory.usage : null, i.memory, bytes);
    if (s) mem.append(spark(h.mem, i.memory || Math.max(...h.mem)));
    const cpu = tr.querySelector(".cpu") as HTMLElement;
    gauge(cpu, s ? (cpuShare ?? 0) : null, i.cpus, (n) => `${n.toFixed(2)}`);
    if (s) cpu.append(spark(h.cpu, i.cpus || Math.max(1, ...h.cpu)));
    gauge(tr.querySelector(".disk") as HTMLElement, s && s.disk.limit ? s.disk.used : null,
      s && s.disk.limit ? s.disk.limit : i.disk, bytes);
    for (const b of tr.querySelectorAll<HTMLButtonElement>("button[data-action]")) {
      const a = b.dataset.action;
      const up = i.state === "running" || i.state === "paused";
      b.disabled = busy.has(i.name) || (a === "start" ? up : !up);
    }
    (tr.querySelector("button[data-console]") as HTMLButtonElement).disabled = i.state !== "running";
  }
  for (const [name, tr] of rows)
    if (!seen.has(name)) {
      tr.remove();
      rows.delete(name);
      history.delete(name);
      last.delete(name);
    }
}

interface Event {
  seq?: number;
  time?: string;
  instance?: string;
  type: string;
  [k: string]: unknown;
}

async function events(): Promise<void> {
  const r = await api("GET", "/v1/events?backlog=20&follow=0");
  if (!r.ok) return;
  const lines = (await r.text()).split("\n").filter((l) => l);
  const ol = $("#events");
  ol.replaceChildren();
  for (const l of lines.reverse()) {
    let e: Event;
    try {
      e = JSON.parse(l) as Event;
    } catch {
      continue;
    }
    const li = document.createElement("li");
    const { seq, time, instance, type, timestamp, ...rest } = e;
    void seq;
    void timestamp;
    const extra = Object.entries(rest).map(([k, v]) => `${k}=${typeof v === "object" ? JSON.stringify(v) : v}`);
    li.textContent = `${time ?? ""} ${instance || "(daemon)"} ${type} ${extra.join(" ")}`;
    ol.append(li);
  }
}

async function refresh(): Promise<void> {
  try {
    const [list, stats] = await Promise.all([
      json<Instance[]>(`/v1/instances?fields=${FIELDS}`),
      json<Stats[]>("/v1/stats"),
    ]);
    render(list, new Map(stats.map((s) => [s.name, s])), Date.now());
    await events();
    if (!busy.size) status(`${list.length} instances, ${stats.length} running`);
  } catch (e) {
    status(`${e}`, true);
  }
}

async function act(name: string, action: string): Promise<void> {
  busy = new Set(busy).add(name);
  status(`${action} ${name}…`);
  void refresh();
  try {
    const r = await api("POST", `/v1/instances/${encodeURIComponent(name)}/${action}`);
    const body = await r.json().catch(() => ({}));
    if (!r.ok) status(`${action} ${name}: ${body.error ?? r.status}`, true);
    else status(`${name}: ${body.state ?? "done"}`);
  } catch (e) {
    status(`${action} ${name}: ${e}`, true);
  } finally {
    busy.delete(name);
    await refresh();
  }
}

async function main(): Promise<void> {
  try {
    const v = await json<{ version: string }>("/v1/version");
    $("#host").textContent = `${window.location.host} · vsd ${v.version}`;
  } catch (e) {
    status(`${e}`, true);
  }
  $("#console-close").addEventListener("click", hideConsole);
  await refresh();
  window.setInterval(() => void refresh(), POLL_MS);
}

void main();
