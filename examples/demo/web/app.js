// The redisware demo page: plain JavaScript, no build step. Each panel
// calls the server with fetch and prints the exchange it made.
"use strict";

const RT = "X-Redis-Round-Trips";
const $ = (id) => document.getElementById(id);

// call makes one request and returns what the panel shows: the response,
// its body (parsed when JSON), the time it took and a printable exchange
// with the named response headers.
async function call(method, url, { form, headers = [] } = {}) {
  const init = { method, headers: { Accept: "application/json" }, cache: "no-store" };
  if (form) init.body = new URLSearchParams(form);
  const started = performance.now();
  const res = await fetch(url, init);
  const text = await res.text();
  const ms = performance.now() - started;
  let json = null;
  if ((res.headers.get("Content-Type") || "").startsWith("application/json")) {
    try { json = JSON.parse(text); } catch { /* shown as text */ }
  }
  const lines = [`→ ${method} ${url}`];
  if (form) lines.push(`  ${new URLSearchParams(form)}`);
  lines.push(`← ${res.status} ${res.statusText} in ${ms.toFixed(0)} ms`);
  for (const name of [...headers, RT]) {
    const v = res.headers.get(name);
    if (v !== null) lines.push(`  ${name}: ${v}`);
  }
  const body = json !== null ? JSON.stringify(json, null, 2) : text.trim();
  if (body) lines.push("", body);
  return { res, text, json, ms, exchange: lines.join("\n") };
}

// show prints exchanges into a panel's <pre>.
function show(id, ...exchanges) {
  $(id).textContent = exchanges.map((x) => x.exchange).join("\n\n");
}

function failed(id, err) {
  $(id).textContent = `request failed: ${err}`;
}

// busy disables a button while its action runs.
async function busy(button, action) {
  button.disabled = true;
  try { await action(); } finally { button.disabled = false; }
}

// Sessions

let lastFingerprint = null;

function renderSession(state) {
  $("session-user").textContent = state.user || "not logged in";
  $("session-visits").textContent = String(state.visits);
  $("session-id").textContent = state.id_fingerprint || "(none)";
  const list = $("session-list");
  list.replaceChildren();
  for (const s of state.sessions || []) {
    const li = document.createElement("li");
    li.textContent = `session ${s.id_fingerprint}: created ${new Date(s.created).toLocaleTimeString()}, ` +
      `last seen ${new Date(s.last_seen).toLocaleTimeString()}${s.this_browser ? " (this browser)" : ""}`;
    list.append(li);
  }
  lastFingerprint = state.id_fingerprint;
}

async function loadSession(before = []) {
  const x = await call("GET", "/session/state");
  if (x.json) renderSession(x.json);
  show("session-exchange", ...before, x);
  return x;
}

function rotation(before, after, why) {
  $("session-rotation").textContent = `session ID ${before || "(none)"} → ${after || "(none)"}: ${why}`;
}

$("login-form").addEventListener("submit", (e) => {
  e.preventDefault();
  busy($("login-btn"), async () => {
    try {
      const x = await call("POST", "/session/login", { form: { user: $("login-user").value } });
      if (x.res.ok && x.json) rotation(x.json.id_before, x.json.id_after, "renewed by Login");
      await loadSession([x]);
    } catch (err) { failed("session-exchange", err); }
  });
});

$("logout-btn").addEventListener("click", (e) => busy(e.target, async () => {
  try {
    const before = lastFingerprint;
    const x = await call("POST", "/session/logout");
    const y = await loadSession([x]);
    if (y.json) rotation(before, y.json.id_fingerprint, "the old session was deleted, a new one started");
  } catch (err) { failed("session-exchange", err); }
}));

$("logout-all-btn").addEventListener("click", (e) => busy(e.target, async () => {
  try {
    const before = lastFingerprint;
    const x = await call("POST", "/session/logout-everywhere");
    const y = await loadSession([x]);
    if (y.json) rotation(before, y.json.id_fingerprint, "every session of the user was deleted");
  } catch (err) { failed("session-exchange", err); }
}));

// Rate limit

let pings = 0;
$("ping-btn").addEventListener("click", (e) => busy(e.target, async () => {
  try {
    const x = await call("GET", "/ratelimit/ping", { headers: ["RateLimit-Policy", "RateLimit", "Retry-After"] });
    pings++;
    $("ping-count").textContent = String(pings);
    const status = $("ping-status");
    status.textContent = `${x.res.status} ${x.res.status === 429 ? "Too Many Requests" : x.res.statusText}`;
    status.className = x.res.status === 429 ? "status-bad" : "status-ok";
    $("ping-policy").textContent = x.res.headers.get("RateLimit-Policy") || "–";
    $("ping-ratelimit").textContent = x.res.headers.get("RateLimit") || "–";
    $("ping-retry").textContent = x.res.headers.get("Retry-After") ? `${x.res.headers.get("Retry-After")} s` : "–";
    show("ping-exchange", x);
  } catch (err) { failed("ping-exchange", err); }
}));

// Response cache

$("cache-btn").addEventListener("click", (e) => busy(e.target, async () => {
  const rows = $("cache-rows");
  rows.replaceChildren();
  $("cache-saved").textContent = "";
  try {
    const loads = [];
    for (let i = 1; i <= 2; i++) {
      const x = await call("GET", "/cache/slow", { headers: ["Cache-Status", "Age", "Cache-Control"] });
      loads.push(x);
      const tr = document.createElement("tr");
      tr.id = `cache-row-${i}`;
      for (const v of [`#${i}`, `${x.ms.toFixed(0)} ms`, x.res.headers.get("Cache-Status") || "–", x.res.headers.get("Age") ?? "–"]) {
        const td = document.createElement("td");
        td.textContent = v;
        tr.append(td);
      }
      rows.append(tr);
    }
    const saved = loads[0].ms - loads[1].ms;
    $("cache-saved").textContent = `the second load took ${loads[1].ms.toFixed(0)} ms: ${saved.toFixed(0)} ms saved`;
    show("cache-exchange", ...loads);
  } catch (err) { failed("cache-exchange", err); }
}));

$("purge-btn").addEventListener("click", (e) => busy(e.target, async () => {
  try {
    const x = await call("POST", "/cache/purge");
    $("cache-saved").textContent = x.res.ok ? "purged: the next load renders again" : `purge failed: ${x.res.status}`;
    show("cache-exchange", x);
  } catch (err) { failed("cache-exchange", err); }
}));

// Cache-aside

function asideURL() {
  return `/aside/item?id=${encodeURIComponent($("aside-id").value)}`;
}

$("aside-form").addEventListener("submit", (e) => {
  e.preventDefault();
  busy($("aside-get"), async () => {
    try {
      const x = await call("GET", asideURL());
      const trips = x.res.headers.get(RT);
      let source;
      if (x.res.status === 404) source = "not found (the miss is cached as well)";
      else if (!x.res.ok) source = `error ${x.res.status}`;
      else if (x.json && x.json.took_ms >= 300) source = `fetched from the slow database (${x.json.took_ms} ms), stored in Redis`;
      else if (trips === "0") source = "the local tier, in this process: 0 Redis round trips";
      else source = `Redis: ${trips} round trip${trips === "1" ? "" : "s"}`;
      $("aside-source").textContent = source;
      show("aside-exchange", x);
    } catch (err) { failed("aside-exchange", err); }
  });
});

$("aside-evict").addEventListener("click", (e) => busy(e.target, async () => {
  try {
    const x = await call("POST", asideURL());
    $("aside-source").textContent = x.res.ok ? "evicted: the next get fetches again" : `evict failed: ${x.res.status}`;
    show("aside-exchange", x);
  } catch (err) { failed("aside-exchange", err); }
}));

// Live events

function addEvent(text, at) {
  const li = document.createElement("li");
  li.textContent = `${new Date(at || Date.now()).toLocaleTimeString()}  ${text}`;
  const feed = $("feed");
  feed.prepend(li);
  while (feed.children.length > 200) feed.lastChild.remove();
}

// The feed is a Redis stream: the server sends the last events first, and
// EventSource, reconnecting by itself with Last-Event-ID, gets what it
// missed. A reset means what it missed is gone: start over from the latest.
function connectFeed() {
  const es = new EventSource("/events/stream");
  const status = $("feed-status");
  es.onopen = () => { status.textContent = "live"; status.className = "status-ok"; };
  es.onerror = () => { status.textContent = "reconnecting…"; status.className = "status-bad"; };
  const onEvent = (e) => {
    try {
      const m = JSON.parse(e.data);
      addEvent(m.text, m.at);
    } catch {
      addEvent(e.data);
    }
  };
  es.addEventListener("events", onEvent);
  es.addEventListener("message", onEvent);
  es.addEventListener("reset", () => { es.close(); $("feed").replaceChildren(); connectFeed(); });
}

$("publish-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const input = $("publish-text");
  const text = input.value;
  busy($("publish-btn"), async () => {
    try {
      const x = await call("POST", "/events/publish", { form: { text } });
      if (x.res.ok) input.value = "";
      else addEvent(`publish failed: ${x.res.status} ${x.text.trim()}`);
    } catch (err) { addEvent(`publish failed: ${err}`); }
  });
});

// Redis health

async function checkHealth() {
  try {
    const x = await call("GET", "/healthz");
    const status = $("health-status");
    status.textContent = x.json ? x.json.status : `${x.res.status}`;
    status.className = x.res.ok ? "status-ok" : "status-bad";
    $("health-ms").textContent = x.json && x.json.redis_ms !== undefined ? `${x.json.redis_ms} ms` : "–";
    show("health-exchange", x);
  } catch (err) {
    $("health-status").textContent = "unreachable";
    $("health-status").className = "status-bad";
    failed("health-exchange", err);
  }
}

// Metrics

$("metrics-btn").addEventListener("click", (e) => busy(e.target, async () => {
  try {
    const x = await call("GET", "/metrics");
    if (x.res.status === 404) {
      $("metrics-status").textContent = "404: this build of the demo serves no /metrics";
      $("metrics-exchange").textContent = x.exchange;
      return;
    }
    const lines = x.text.split("\n").filter((l) => l.includes("redisware"));
    $("metrics-status").textContent = `${x.res.status}: ${lines.length} redisware lines`;
    $("metrics-exchange").textContent = lines.join("\n") || x.text;
  } catch (err) { failed("metrics-exchange", err); }
}));

// Start

loadSession().catch((err) => failed("session-exchange", err));
connectFeed();
checkHealth();
setInterval(checkHealth, 5000);
