// gridmesh dashboard: helpers shared by the three pages. Everything here
// reads the read API under /api/v1 on this node's own origin.
"use strict";
const gm = (() => {
  const api = async (path) => {
    const r = await fetch("/api/v1" + path, { headers: { Accept: "application/json" } });
    const body = await r.json().catch(() => ({}));
    if (!r.ok) { const e = new Error(body.error || r.status + " " + r.statusText); e.status = r.status; throw e; }
    return body;
  };
  // api that answers null for 404 (an unknown account, hash or height).
  const find = (path) => api(path).catch((e) => { if (e.status === 404 || e.status === 400) return null; throw e; });
  const $ = (id) => document.getElementById(id);
  const el = (tag, attrs, ...kids) => {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v == null) continue;
      if (k === "class") e.className = v; else if (k === "text") e.textContent = v; else e.setAttribute(k, v);
    }
    for (const k of kids) e.append(k instanceof Node ? k : String(k));
    return e;
  };
  // set writes a figure: the formatted text, and the raw value in data-value.
  const set = (id, text, raw) => {
    const e = $(id); if (!e) return;
    e.textContent = text;
    if (raw !== undefined) e.dataset.value = String(raw);
  };
  const int = (v) => Number(v || 0);
  const wh = (v) => { v = int(v); return Math.abs(v) >= 10000 ? (v / 1000).toFixed(2) + " kWh" : v + " Wh"; };
  const watts = (v) => { v = int(v); return Math.abs(v) >= 10000 ? (v / 1000).toFixed(2) + " kW" : v + " W"; };
  // Money and prices are micro-units of the network's currency.
  const money = (v) => (int(v) / 1e6).toFixed(4);
  const price = (v) => (int(v) / 1e6).toFixed(4) + "/kWh";
  const short = (s) => (s && s.length > 16 ? s.slice(0, 8) + "…" + s.slice(-6) : s || "");
  const time = (iso) => { const d = new Date(iso); return isNaN(d) ? "" : d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" }); };
  const datetime = (iso) => { const d = new Date(typeof iso === "number" ? iso : iso); return isNaN(d) ? "" : d.toLocaleString(); };
  // flag writes a health line: a word and a symbol beside the colour.
  const flag = (id, good, yes, no, warn) => {
    const e = $(id); if (!e) return;
    e.className = good ? "ok" : warn ? "warn" : "bad";
    e.textContent = good ? yes : no;
    e.dataset.value = String(!!good);
  };
  const showError = (err) => { const e = $("error"); if (e) e.textContent = err ? "Could not read the node's API: " + err.message : ""; };
  const names = new Map(); // account key → name, filled as accounts are read
  const account = async (key) => {
    const a = await find("/accounts/" + key);
    if (a && a.name) names.set(key, a.name);
    return a;
  };
  // learn fetches the names of accounts not seen yet (once each).
  const asked = new Set();
  const learn = async (keys) => {
    const fresh = [...new Set(keys)].filter((k) => k && !names.has(k) && !asked.has(k)).slice(0, 50);
    for (const k of fresh) asked.add(k);
    await Promise.all(fresh.map(account));
    return fresh.length > 0;
  };
  const who = (key) => names.get(key) || short(key);
  const acctLink = (key) => el("a", { href: "/ui/explorer.html#account/" + key, title: key, class: "mono" }, who(key));
  // knownAccounts lists the accounts this page can learn of through the API:
  // the node itself, the authorities and the traders of the recent slots.
  const knownAccounts = async () => {
    const [st, auth, trades] = await Promise.all([api("/status"), api("/authorities"), api("/trades?limit=1000")]);
    const keys = new Set([st.account]);
    for (const a of auth.items || []) keys.add(a.key);
    for (const t of trades.items || []) { keys.add(t.buyer); keys.add(t.seller); }
    const list = [...keys].filter(Boolean).slice(0, 200);
    return (await Promise.all(list.map(account))).filter(Boolean);
  };
  // live calls refresh now and again after each event the node pushes
  // (block, cleared, settled), at most once a second.
  const live = (refresh, kinds) => {
    let timer = null, busy = false, again = false;
    const run = async () => {
      timer = null;
      if (busy) { again = true; return; }
      busy = true;
      try { await refresh(); showError(null); } catch (err) { showError(err); }
      busy = false;
      if (again) { again = false; schedule(); }
    };
    const schedule = () => { if (!timer) timer = setTimeout(run, 1000); };
    run();
    const ind = $("live");
    const es = new EventSource("/api/v1/events");
    es.onopen = () => { if (ind) { ind.className = "on"; ind.textContent = "live"; } };
    es.onerror = () => { if (ind) { ind.className = "off"; ind.textContent = "reconnecting"; } };
    for (const k of kinds || ["block", "cleared", "settled"]) es.addEventListener(k, schedule);
    return es;
  };
  // chart draws (or redraws) a uPlot chart in the element with this id.
  const charts = new Map();
  const chart = (id, opts, data) => {
    const box = $(id); if (!box || typeof uPlot === "undefined") return;
    const width = Math.max(box.clientWidth, 240);
    let c = charts.get(id);
    if (c && c.series.length === opts.series.length) { c.setData(data); if (Math.abs(c.width - width) > 2) c.setSize({ width, height: 220 }); return; }
    if (c) c.destroy();
    c = new uPlot({ width, height: 220, ...opts }, data, box);
    charts.set(id, c);
  };
  window.addEventListener("resize", () => { for (const [id, c] of charts) { const b = $(id); if (b) c.setSize({ width: Math.max(b.clientWidth, 240), height: 220 }); } });
  return { api, find, $, el, set, wh, watts, money, price, short, time, datetime, flag, showError, names, account, learn, who, acctLink, knownAccounts, live, chart };
})();
