"""The one page a technician opens on a phone. Inline CSS and JS only: nothing is loaded
from the internet (the gateway often has none, and the page must work on site).

All data comes from ``/api/status`` every few seconds; values are put in the DOM with
``textContent`` only (payload strings such as camera errors are never parsed as HTML).
"""

from __future__ import annotations

import html

_CSS = """
:root{--bg:#f4f5f7;--card:#fff;--ink:#1d232b;--mute:#5f6b7a;--ok:#1a7f37;--warn:#b26b00;
--bad:#c62828;--off:#6b7280;--acc:#0b63c5}
*{box-sizing:border-box}html{scroll-padding:80px 0 90px}
body{margin:0;font:16px/1.4 system-ui,-apple-system,Roboto,sans-serif;
background:var(--bg);color:var(--ink)}
header{background:#17324d;color:#fff;padding:12px 14px;position:sticky;top:0;z-index:2}
header h1{font-size:18px;margin:0}header .sub{font-size:13px;opacity:.85}
main{padding:10px 10px 90px;max-width:720px;margin:auto}
section{margin-bottom:14px}h2{font-size:15px;text-transform:uppercase;letter-spacing:.04em;
color:var(--mute);margin:14px 4px 6px}
.card{background:var(--card);border-radius:10px;padding:12px;margin-bottom:8px;
box-shadow:0 1px 2px rgba(0,0,0,.08);min-width:0;overflow-wrap:anywhere}
.row{display:flex;justify-content:space-between;align-items:center;gap:8px}
.name{font-weight:600;font-size:17px;word-break:break-word}
.pill{display:inline-block;border-radius:999px;padding:2px 10px;font-weight:700;font-size:14px;
color:#fff;background:var(--off);white-space:nowrap}
.ok{background:var(--ok)}.warn{background:var(--warn)}.bad{background:var(--bad)}
.on{background:#e0a800;color:#222}.kv{font-size:14px;color:var(--mute);margin-top:4px}
.kv b{color:var(--ink);font-weight:600}.err{color:var(--bad);font-size:14px;margin-top:4px}
.btns{display:flex;flex-wrap:wrap;gap:6px;margin-top:8px}
button{font:inherit;font-size:15px;border:0;border-radius:8px;padding:9px 12px;
background:var(--acc);color:#fff;min-height:40px}button.sec{background:#e7ebf0;color:var(--ink)}
input{font:inherit;font-size:15px;padding:8px;border:1px solid #c8ced6;border-radius:8px;
max-width:100%}
img.snap{display:block;width:100%;max-width:100%;height:auto;border-radius:8px;
margin-top:8px;background:#ddd;min-height:40px}
#toast{position:fixed;left:10px;right:10px;bottom:10px;padding:12px;border-radius:10px;
background:#17324d;color:#fff;display:none;z-index:3}
details{font-size:14px;color:var(--mute);margin-top:6px}.empty{color:var(--mute);padding:4px}
"""

_JS = r"""
const REFRESH_MS = __REFRESH_MS__;
const TOKEN_KEY = "edgeAgentToken";
const PULSE_S = 5;  // long enough to see a lamp or contactor react
const $ = (id) => document.getElementById(id);
function h(tag, attrs, ...kids) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") el.className = v; else if (k.startsWith("on")) el[k] = v;
    else el.setAttribute(k, v);
  }
  for (const kid of kids) if (kid !== null && kid !== undefined)
    el.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
  return el;
}
let TZ;  // the site's timezone: times are shown as the village sees them
// 24 h and day/month, as Vietnamese readers write them (not the phone's "02:51 PM")
const LOCALE = "en-GB";
function clock(d, seconds) {
  return d.toLocaleTimeString(LOCALE, {hour: "2-digit", minute: "2-digit",
    second: seconds ? "2-digit" : undefined, hourCycle: "h23", timeZone: TZ});
}
function when(iso) {
  if (!iso || typeof iso !== "string") return iso;
  const d = new Date(iso); if (isNaN(d)) return iso;
  const day = (x) => x.toLocaleDateString(LOCALE, {day: "2-digit", month: "2-digit",
                                                   timeZone: TZ});
  return day(d) === day(new Date()) ? clock(d) : day(d) + " " + clock(d);
}
function fmt(v) {
  if (v === null || v === undefined || v === "") return "–";
  if (typeof v === "number") return Number.isInteger(v) ? String(v) : v.toFixed(1);
  if (typeof v === "boolean") return v ? "yes" : "no";
  if (typeof v === "object") {
    if (v.at || v.time) return (v.state ? v.state + " at " : "") + when(v.at || v.time);
    return Object.entries(v).map(([k, x]) => k + " " + fmt(x)).join(", ");
  }
  return /^\d{4}-\d\d-\d\dT/.test(v) ? when(v) : String(v);
}
function pick(s, ...names) {  // payload field names differ a little between capabilities
  for (const n of names) if (s[n] !== undefined && s[n] !== null) return s[n];
  return null;
}
function kv(label, value) {
  return h("div", {class: "kv"}, label + ": ", h("b", {}, fmt(value)));
}
function details(obj, shown, key) {
  const rest = Object.entries(obj).filter(([k]) => !shown.includes(k));
  if (!rest.length) return null;
  const el = h("details", {}, h("summary", {}, "more"), ...rest.map(([k, v]) => kv(k, v)));
  el.open = openDetails.has(key);
  el.ontoggle = () => { el.open ? openDetails.add(key) : openDetails.delete(key); };
  return el;
}
function pill(text, cls) { return h("span", {class: "pill " + (cls || "")}, text || "unknown"); }
function token() { return localStorage.getItem(TOKEN_KEY) || ""; }
function toast(text, bad) {
  const t = $("toast"); t.textContent = text; t.style.background = bad ? "#c62828" : "#17324d";
  t.style.display = "block"; clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { t.style.display = "none"; }, 5000);
}
// ``done``: what the toast says when the gateway did it, in words (not the command path)
async function command(path, payload, busy, done) {
  let tok = token();
  if (!tok) {
    tok = prompt("Token for write actions (from the gateway config):") || "";
    if (!tok) { toast("No token: nothing was changed", true); return; }
    localStorage.setItem(TOKEN_KEY, tok);
  }
  if (busy) toast(busy);
  try {
    const r = await fetch("/api/command/" + path, {method: "POST",
      headers: {"Content-Type": "application/json", "Authorization": "Bearer " + tok},
      body: JSON.stringify(payload || {})});
    const body = await r.json().catch(() => ({}));
    if (r.status === 401 || r.status === 403) localStorage.removeItem(TOKEN_KEY);
    if (r.ok && body.ok) toast(done || "Done: " + path);
    else toast("Refused: " + (body.error || r.statusText), true);
  } catch (e) { toast("Gateway unreachable: " + e, true); }
  refresh();
}
const untilValues = {}, openDetails = new Set();  // kept across the periodic re-render
// the time box is in the gateway's timezone, like every time the page shows (the phone's
// own zone may differ): minutes the site is ahead of UTC at an instant
function siteOffsetMin(at) {
  const p = {};
  for (const x of new Intl.DateTimeFormat("en-GB", {timeZone: TZ, hourCycle: "h23",
      year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit",
      second: "2-digit"}).formatToParts(at)) p[x.type] = Number(x.value);
  return Math.round((Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute, p.second) -
                     at.getTime()) / 60e3);
}
function untilInput(id) {
  const d = new Date(Date.now() + 3600e3); d.setSeconds(0, 0);
  const local = new Date(d.getTime() + siteOffsetMin(d) * 60e3).toISOString().slice(0, 16);
  const input = h("input", {type: "datetime-local", value: untilValues[id] || local,
                            "aria-label": "override until"});
  input.oninput = () => { untilValues[id] = input.value; };
  return input;
}
function override(circuit, name, state, input) {
  let until = null;
  if (input.value) {  // the typed wall time, read in the gateway's timezone
    const wall = Date.parse(input.value + ":00Z");
    until = new Date(wall - siteOffsetMin(new Date(wall)) * 60e3).toISOString();
  }
  command("light/" + encodeURIComponent(circuit) + "/override", {state, until}, null,
          name + ": " + state.toUpperCase() + (input.value ?
            " until " + when(until) : " until the next scheduled change"));
}
function lightCard(id, s) {
  const state = (s.state || "").toLowerCase(), input = untilInput(id);
  const err = s.driver_error || s.error || s.last_error;
  const base = "light/" + encodeURIComponent(id);
  return h("div", {class: "card", "data-light": id, "data-state": state},
    h("div", {class: "row"}, h("span", {class: "name"}, s.name || id),
      pill(state ? state.toUpperCase() : "no data", state === "on" ? "on" : "")),
    kv("reason", s.reason), s.rule ? kv("rule", s.rule) : null,
    s.override_until ? kv("override " + (s.override_state || "") + " until",
                          s.override_until) : null,
    kv("next change", s.next_state && s.next_change ?
       s.next_state + " at " + when(s.next_change) : s.next_change),
    s.pending_until ? kv("waiting for the contactor until", s.pending_until) : null,
    err ? h("div", {class: "err"}, err) : null,
    details(s, ["name", "state", "reason", "rule", "override_until", "override_state",
                "next_change", "next_state", "pending_until", "ts", "error", "last_error",
                "driver_error", "circuit"], "light:" + id),
    h("div", {class: "btns"},
      h("button", {class: "pulse", onclick: () => command(base + "/pulse",
        {seconds: PULSE_S}, "Pulsing " + (s.name || id) + " for " + PULSE_S + " s…",
        (s.name || id) + ": test pulse done (" + PULSE_S + " s)")},
        "Test pulse"),
      h("button", {class: "sec", onclick: () => override(id, s.name || id, "on", input)},
        "On until"),
      h("button", {class: "sec", onclick: () => override(id, s.name || id, "off", input)},
        "Off until"),
      input,
      s.override_state ? h("button", {class: "sec", onclick: () =>
        command(base + "/clear", {}, null, (s.name || id) + ": back to schedule")},
        "Back to schedule") : null));
}
const GOOD = {online: "ok", up: "ok", degraded: "warn", disarmed: "", offline: "bad",
              down: "bad"};
function cameraCard(id, s) {
  const status = pick(s, "state", "status");
  const card = h("div", {class: "card", "data-camera": id},
    h("div", {class: "row"}, h("span", {class: "name"}, s.name || id),
      pill(status || "no data", GOOD[status])),
    kv("fps in / decoded / analysed",
       [s.fps_in, s.fps_decoded, s.fps_analysed].map(fmt).join(" / ")),
    kv("reconnects last hour", s.reconnects_last_hour),
    s.last_error ? h("div", {class: "err"}, s.last_error) : null,
    s.armed === false && status !== "disarmed" ? kv("armed", false) : null,
    details(s, ["name", "state", "status", "fps_in", "fps_decoded", "fps_analysed",
                "snapshot_url", "reconnects_last_hour", "last_error", "ts", "camera"],
            "camera:" + id));
  if (s.snapshot_url) card.append(h("img", {class: "snap", src: s.snapshot_url,
                                            alt: "latest snapshot of " + id}));
  card.append(h("div", {class: "btns"}, h("button", {class: "sec", onclick: () =>
    command("camera/" + encodeURIComponent(id) + "/snapshot", {}, null,
            (s.name || id) + ": snapshot taken")}, "Take snapshot")));
  return card;
}
function hotspotCard(id, s) {
  return h("div", {class: "card", "data-hotspot": id},
    h("div", {class: "row"}, h("span", {class: "name"}, s.name || id),
      pill(s.state || "no data", GOOD[s.state])),
    kv("RTT median / p95 ms", fmt(s.rtt_median_ms) + " / " + fmt(s.rtt_p95_ms)),
    kv("loss %", pick(s, "loss_pct", "loss_percent")), kv("clients", s.clients),
    kv("uptime 24 h / 30 d %", fmt(pick(s, "uptime_24h_pct", "uptime_24h")) + " / " +
       fmt(pick(s, "uptime_30d_pct", "uptime_30d"))),
    kv("since", s.since),
    (s.reasons || []).length ? h("div", {class: "err"}, s.reasons.join("; ")) : null,
    s.last_error ? h("div", {class: "err"}, s.last_error) : null,
    details(s, ["name", "state", "rtt_median_ms", "rtt_p95_ms", "loss_pct", "loss_percent",
                "clients", "uptime_24h_pct", "uptime_24h", "uptime_30d_pct", "uptime_30d",
                "since", "ts", "reasons", "last_error", "hotspot"], "hotspot:" + id));
}
const shown = {};  // section -> {key: JSON last rendered}: only changed cards are rebuilt,
                  // so a button is not replaced under the technician's finger every refresh
function fill(id, items, make) {
  const box = $(id), keys = Object.keys(items || {}), before = shown[id] || {}, now = {};
  keys.forEach((k) => { now[k] = JSON.stringify(items[k]); });
  shown[id] = now;
  if (!keys.length) {
    box.replaceChildren(h("div", {class: "empty"}, "none configured"));
  } else if (Object.keys(before).join("\n") !== keys.join("\n") ||
             box.children.length !== keys.length) {
    box.replaceChildren(...keys.map((k) => make(k, items[k])));
  } else {
    keys.forEach((k, i) => {
      if (now[k] !== before[k]) box.children[i].replaceWith(make(k, items[k]));
    });
  }
}
function gateway(d) {
  const g = d.gateway, ob = g.outbox || {}, m = g.mqtt || {};
  $("title").textContent = "Gateway " + g.gateway;
  $("sub").textContent = g.site + " · v" + g.version + " · up " +
    Math.round((g.uptime_s || 0) / 60) + " min";
  const health = d.health || {};
  $("gw").replaceChildren(h("div", {class: "card"},
    h("div", {class: "row"}, h("span", {class: "name"}, "Gateway"),
      pill(health.healthy ? "healthy" : "problem", health.healthy ? "ok" : "bad")),
    ...(health.reasons || []).map((r) => h("div", {class: "err"}, r)),
    ...(health.notes || []).map((r) => h("div", {class: "kv"}, r)),
    h("div", {id: "mqtt", class: "kv"}, "MQTT: ",
      h("b", {}, m.connected ? "connected" : "down" + (m.last_error ? " (" + m.last_error + ")"
                                                                   : ""))),
    h("div", {id: "clock", class: "kv"}, "Clock: ",
      h("b", {}, g.clock_synced ? "synced" : "NOT synced")),
    h("div", {id: "outbox", class: "kv"}, "Outbox: ",
      h("b", {}, (ob.depth || 0) + " waiting"),
      ob.oldest_age_s ? ", oldest " + Math.round(ob.oldest_age_s) + " s" : "",
      ", dropped " + Object.values(ob.dropped || {}).reduce((a, b) => a + b, 0)),
    details(Object.fromEntries(Object.entries(g.components || {}).map(([k, v]) =>
      [k, v.state + ", " + v.restarts + " restart(s)" + (v.last_error ? ": " + v.last_error
                                                                         : "")])), [], "gw")));
}
async function refresh() {
  try {
    const r = await fetch("/api/status", {cache: "no-store"});
    const d = await r.json();
    TZ = d.timezone || undefined;
    gateway(d);
    // do not rebuild the lights while the technician is picking a time in them
    const active = document.activeElement;
    if (!(active && active.tagName === "INPUT" && $("lights").contains(active)))
      fill("lights", d.lights, lightCard);
    fill("cameras", d.cameras, cameraCard);
    fill("hotspots", d.hotspots, hotspotCard);
    $("updated").textContent = "updated " + clock(new Date(), true);
    document.body.dataset.loaded = "1";
  } catch (e) { $("updated").textContent = "gateway not answering: " + e; }
}
$("toast").onclick = () => { $("toast").style.display = "none"; };  // tap to dismiss
$("save").onclick = () => { localStorage.setItem(TOKEN_KEY, $("token").value.trim());
                            $("token").value = ""; toast("Token saved on this phone"); };
$("forget").onclick = () => { localStorage.removeItem(TOKEN_KEY); toast("Token forgotten"); };
refresh(); setInterval(refresh, REFRESH_MS);
"""

_BODY = """<!doctype html>
<html lang="en-GB"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1">
<title>__TITLE__</title><style>__CSS__</style></head>
<body><header><h1 id="title">__TITLE__</h1><div class="sub" id="sub">loading…</div></header>
<main>
<section id="gw"></section>
<h2>Lights</h2><section id="lights"></section>
<h2>Cameras</h2><section id="cameras"></section>
<h2>Hotspots</h2><section id="hotspots"></section>
<h2>Token</h2><section><div class="card">
<div class="kv">Write actions (test pulse, override, snapshot) need the gateway's token.
It is kept on this phone only.</div>
<div class="btns"><input id="token" type="password" placeholder="token" autocomplete="off">
<button id="save">Save</button><button id="forget" class="sec">Forget</button></div>
</div></section>
<div class="kv" id="updated"></div>
</main><div id="toast" role="status"></div>
<script>__JS__</script></body></html>
"""


def render_page(gateway_id: str, refresh_s: float) -> str:
    title = html.escape(f"Gateway {gateway_id}")
    return (_BODY.replace("__CSS__", _CSS)
            .replace("__JS__", _JS.replace("__REFRESH_MS__", str(int(refresh_s * 1000))))
            .replace("__TITLE__", title))
