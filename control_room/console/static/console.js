// The console's only script: live fragments over Server-Sent Events, commands by fetch
// with the CSRF token, and the wall clock. No library, no build step.
"use strict";
(function () {
  const body = document.body;
  const csrf = () => (document.querySelector("meta[name=csrf]") || {}).content || "";
  const conn = document.getElementById("conn");
  const STALE_MS = 40000; // the server sends something at least every 15 s
  let source = null, lastMessage = Date.now();

  function setLive(up) {
    if (!conn) return;
    conn.classList.toggle("down", !up);
    conn.textContent = up ? conn.dataset.on : conn.dataset.off;
  }

  function swap(fragments, hashes) {
    for (const [id, html] of Object.entries(fragments)) {
      const el = document.getElementById(id);
      // unchanged (e.g. the first message after connecting): leave the page alone
      if (!el || (hashes && el.dataset.h === hashes[id])) continue;
      if (hashes) el.dataset.h = hashes[id];
      // keep what a person is typing: skip a fragment holding the focused field
      const active = document.activeElement;
      if (active && el.contains(active) && active.matches("input,select,textarea")) {
        el.dataset.pending = html;
        continue;
      }
      el.innerHTML = html;
    }
    body.dataset.updated = String(Date.now());
  }

  document.addEventListener("focusout", (ev) => {
    setTimeout(() => {
      for (const el of document.querySelectorAll("[data-pending]")) {
        if (el.contains(document.activeElement)) continue;
        el.innerHTML = el.dataset.pending;
        delete el.dataset.pending;
      }
    }, 0);
  });

  function connect() {
    const url = body.dataset.live;
    if (!url) return;
    if (source) source.close();
    source = new EventSource(url);
    source.addEventListener("hello", (ev) => {
      lastMessage = Date.now();
      setLive(true);
      // the server came back with other code: take the new page and script
      if (JSON.parse(ev.data).version !== body.dataset.version) location.reload();
    });
    source.addEventListener("swap", (ev) => {
      lastMessage = Date.now();
      const msg = JSON.parse(ev.data);
      swap(msg.f, msg.h);
    });
    source.onmessage = () => { lastMessage = Date.now(); };
    source.onopen = () => { lastMessage = Date.now(); setLive(true); };
    source.onerror = () => {
      setLive(false);
      if (source.readyState === EventSource.CLOSED) retryLater();
    };
  }

  async function retryLater() {
    // closed for good (e.g. the login expired): ask the page itself what is wrong
    await new Promise((r) => setTimeout(r, 5000));
    try {
      const r = await fetch(location.href, {redirect: "manual", cache: "no-store"});
      if (r.type === "opaqueredirect" || r.status === 401) { location.reload(); return; }
    } catch (e) { /* server still down */ }
    connect();
  }

  setInterval(() => {
    // a stream that went silent (a proxy, a sleeping TV) is replaced
    if (body.dataset.live && Date.now() - lastMessage > STALE_MS) {
      lastMessage = Date.now();
      setLive(false);
      connect();
    }
  }, 5000);

  let toastTimer = 0;
  function toast(text, ok) {
    const bar = document.getElementById("toast");
    bar.textContent = text;
    bar.className = ok ? "" : "bad";
    bar.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => { bar.hidden = true; }, 6000);
  }
  document.addEventListener("click", (ev) => {
    if (ev.target && ev.target.id === "toast") ev.target.hidden = true;
  });

  document.addEventListener("submit", async (ev) => {
    const form = ev.target;
    const field = form.querySelector("input[name=csrf]");
    if (field) field.value = csrf();
    if (!form.classList.contains("act")) return; // ordinary form posts (users, login)
    ev.preventDefault();
    const data = new FormData(form, ev.submitter);
    const buttons = form.querySelectorAll("button");
    buttons.forEach((b) => { b.disabled = true; });
    body.dataset.busy = "1";
    try {
      const r = await fetch(form.action, {method: "POST", body: new URLSearchParams(data),
        headers: {"X-CSRF-Token": csrf(), "X-Requested-With": "fetch"}});
      let message = r.statusText;
      try { message = (await r.json()).message || message; } catch (e) { /* not JSON */ }
      toast(message, r.ok);
    } catch (e) {
      toast(String(e), false);
    } finally {
      buttons.forEach((b) => { b.disabled = false; });
      delete body.dataset.busy;
    }
  });

  const clock = document.getElementById("clock");
  if (clock) {
    // 24 h and day/month as the country writes them, in the commune's zone
    const fmt = new Intl.DateTimeFormat("en-GB",
      {hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23",
       timeZone: body.dataset.tz || undefined, day: "2-digit", month: "2-digit"});
    const tick = () => {
      const p = Object.fromEntries(fmt.formatToParts(new Date()).map((x) => [x.type, x.value]));
      clock.textContent = `${p.hour}:${p.minute}:${p.second} ${p.day}/${p.month}`;
    };
    tick();
    setInterval(tick, 1000);
  }
  connect();
})();
