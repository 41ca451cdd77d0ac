// The explorer: blocks, block → transactions, transaction, account →
// balance and statement, and one search box. The view follows the URL's
// fragment (#blocks/BEFORE, #block/H, #tx/HASH, #account/KEY, #search/Q), so
// every view can be linked to.
"use strict";
(() => {
  const { api, find, $, el, wh, money, price, acctLink } = gm;
  const view = $("view");
  const link = (hash, text, cls) => el("a", { href: "#" + hash, class: cls }, text);
  const show = (kind, title, ...kids) => {
    view.dataset.kind = kind;
    view.replaceChildren(el("h2", {}, title), ...kids);
  };
  const dl = (pairs) => el("dl", {}, ...pairs.flatMap(([k, v, id]) => [el("dt", {}, k), el("dd", { id }, v)]));
  const table = (head, rows) => el("div", { class: "scroll" }, el("table", {},
    el("thead", {}, el("tr", {}, ...head.map((h) => el("th", { class: h.endsWith(" ") ? "num" : null }, h.trim())))),
    el("tbody", {}, ...rows)));
  const td = (v, cls) => el("td", { class: cls }, v);

  const blocks = async (before) => {
    const p = await api("/blocks?limit=20" + (before ? "&before=" + before : ""));
    const rows = p.items.map((b) => el("tr", {}, el("td", {}, link("block/" + b.height, String(b.height))), td(gm.datetime(b.time_ms)),
      el("td", {}, acctLink(b.proposer)), td(String(b.txs.length), "num"), el("td", { class: "mono" }, gm.short(b.hash))));
    const nav = el("p", {}, before ? link("blocks", "⇤ newest") : "", " ", p.next ? link("blocks/" + p.next, "older →") : "");
    show("blocks", "Blocks", table(["Height", "Time", "Proposer", "Txs ", "Hash"], rows), nav);
  };
  const block = async (h) => {
    const b = await find("/blocks/" + h);
    if (!b) return show("none", "No block at height " + h);
    view.dataset.height = String(b.height);
    show("block", "Block " + b.height, dl([["Hash", el("span", { class: "mono" }, b.hash), "block-hash"], ["Time", gm.datetime(b.time_ms)],
      ["Proposer", acctLink(b.proposer)], ["State hash", el("span", { class: "mono" }, b.state_hash)]]),
      el("h2", {}, "Transactions (" + b.txs.length + ")"),
      b.txs.length ? el("ol", {}, ...b.txs.map((t) => el("li", {}, link("tx/" + t, t, "mono")))) : el("p", { class: "muted" }, "none"),
      el("p", {}, b.height > 0 ? link("block/" + (b.height - 1), "← previous") : "", " ", link("block/" + (b.height + 1), "next →")));
  };
  const tx = async (hash, t) => {
    t = t || await find("/txs/" + hash);
    if (!t) return show("none", "No transaction " + hash);
    view.dataset.hash = t.hash;
    const accts = new Set(JSON.stringify(t.tx).match(/[0-9a-f]{64}/g) || []);
    accts.delete(t.hash); accts.delete(t.block_hash);
    show("tx", "Transaction", dl([["Hash", el("span", { class: "mono" }, t.hash), "tx-hash"], ["Kind", t.kind, "tx-kind"],
      ["Block", link("block/" + t.height, String(t.height))], ["Index", String(t.index)], ["Time", gm.datetime(t.time)]]),
      el("h2", {}, "Keys it names"), el("p", {}, ...[...accts].flatMap((k) => [link("account/" + k, gm.short(k), "mono"), " "])),
      el("h2", {}, "Signed content"), el("pre", { class: "mono scroll" }, JSON.stringify(t.tx, null, 2)));
  };
  const account = async (key, a) => {
    a = a || await gm.account(key);
    if (!a) return show("none", "No account " + key);
    view.dataset.key = a.key;
    const st = await api("/status");
    const from = Math.max(st.last_settled + 1 - 40000, 0);
    const s = await find("/accounts/" + a.key + "/statement?format=json&from=" + from);
    const lines = s ? s.lines.slice(-50).reverse().map((l) => el("tr", {}, td(String(l.slot)), td(gm.time(l.start_utc)),
      td(wh(l.bought_wh), "num buy"), td(wh(l.sold_wh), "num sell"), td(price(l.price), "num"), td(money(l.net), "num"), td(money(l.balance), "num"))) : [];
    show("account", a.name ? "Account " + a.name : "Account", dl([["Name", a.name || "–", "acct-name"], ["Key", el("span", { class: "mono" }, a.key), "acct-key"],
      ["Roles", a.roles.join(", ") || "–"], ["Admitted", a.admitted_height != null ? link("block/" + a.admitted_height, "height " + a.admitted_height) : "–"],
      ["Balance", money(a.balance), "acct-balance"]]),
      el("h2", {}, "Statement (latest settled slots first)"),
      s ? dl([["Settled slots", String(s.lines.length)], ["Bought", wh(s.total.bought_wh)], ["Sold", wh(s.total.sold_wh)], ["Net", money(s.total.net)], ["Closing balance", money(s.total.balance)]]) : "",
      table(["Slot", "Start", "Bought ", "Sold ", "Price ", "Net ", "Balance "], lines));
  };
  // search resolves a query through the API's search (a height, a
  // transaction or block hash, an account key, or a name): one hit opens
  // it, several are listed.
  const search = async (q) => {
    q = q.trim();
    const r = await api("/search?q=" + encodeURIComponent(q));
    const open = (h) => h.kind === "tx" ? tx(h.hash) : h.kind === "block" ? block(h.height) : account(h.key);
    if (r.items.length === 1) return open(r.items[0]);
    if (!r.items.length) return show("none", "Nothing found for " + q);
    for (const h of r.items) if (h.kind === "account" && h.name) gm.names.set(h.key, h.name);
    const target = (h) => h.kind === "tx" ? "tx/" + h.hash : h.kind === "block" ? "block/" + h.height : "account/" + h.key;
    const label = (h) => h.kind === "account" ? (h.name || gm.short(h.key)) : h.kind === "block" ? "block " + h.height : "transaction " + gm.short(h.hash);
    show("results", "Results for " + q, el("ul", {}, ...r.items.map((h) => el("li", {}, link(target(h), label(h)), " ",
      el("span", { class: "mono muted" }, h.kind === "account" ? gm.short(h.key) : h.kind)))));
  };
  const route = async () => {
    const [kind, ...rest] = decodeURIComponent(location.hash.slice(1)).split("/");
    const arg = rest.join("/");
    try {
      gm.showError(null);
      if (kind === "block") await block(arg);
      else if (kind === "tx") await tx(arg);
      else if (kind === "account") await account(arg);
      else if (kind === "search") await search(arg);
      else await blocks(kind === "blocks" ? arg : "");
    } catch (err) { gm.showError(err); }
  };
  $("search").addEventListener("submit", (e) => {
    e.preventDefault();
    const q = $("q").value.trim();
    if (!q) return;
    const h = "#search/" + encodeURIComponent(q);
    if (location.hash === h) route(); else location.hash = h;
  });
  window.addEventListener("hashchange", route);
  route();
  // Learn the names of the accounts the API lists, then show them.
  gm.knownAccounts().then(() => { if (view.dataset.kind === "blocks") route(); }).catch(() => {});
  // Live: the newest blocks list follows the chain; other views stay put.
  gm.live(async () => { if (!location.hash || location.hash === "#blocks") await blocks(""); }, ["block"]);
})();
