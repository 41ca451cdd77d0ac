// The home page: what this Pi did and earned today. Reads /api/v1/status,
// /home, /home/power, /slots and /trades; refreshes on every pushed event.
"use strict";
(() => {
  const { api, $, el, set, wh, watts, money, price, flag, acctLink, who } = gm;
  const refresh = async () => {
    const [st, hm] = await Promise.all([api("/status"), api("/home")]);
    set("name", hm.name || "(unnamed)");
    const acct = $("account");
    acct.textContent = gm.short(hm.account); acct.title = hm.account; acct.dataset.value = hm.account;
    acct.href = "/ui/explorer.html#account/" + hm.account;
    gm.names.set(hm.account, hm.name || "this node");
    set("role", hm.role);
    set("height", String(st.height), st.height);
    const m = hm.meter;
    if (m) {
      set("power", watts(Math.abs(m.power_w)), m.power_w);
      set("power-dir", m.power_w > 0 ? "↓ importing" : m.power_w < 0 ? "↑ exporting" : "balanced");
      set("read-at", gm.time(m.read_at));
      set("import-today", wh(m.import_today_wh), m.import_today_wh);
      set("export-today", wh(m.export_today_wh), m.export_today_wh);
      const grid = Math.max(m.import_today_wh - hm.today.bought_wh, 0);
      set("from-grid", wh(grid), grid);
    }
    const d = hm.today;
    set("bought", wh(d.bought_wh), d.bought_wh);
    set("sold", wh(d.sold_wh), d.sold_wh);
    set("settled-slots", String(d.settled_slots), d.settled_slots);
    set("earned", money(d.earned), d.earned);
    set("saved", money(d.saved), d.saved);
    set("fees", money(d.fees), d.fees);
    set("last-price", hm.last_cleared ? price(hm.last_cleared.price) : "–", hm.last_cleared ? hm.last_cleared.price : "");
    set("last-settled", st.last_settled >= 0 ? String(st.last_settled) : "none yet", st.last_settled);

    const age = m ? (Date.parse(hm.now) - Date.parse(m.read_at)) / 1000 : Infinity;
    flag("h-meter", age < 120, "OK, read " + Math.round(age) + " s ago", m ? "no reading for " + Math.round(age) + " s" : "no meter on this node", !m);
    flag("h-clock", hm.clock_synced, "synchronised", "not synchronised (trading waits)");
    flag("h-peers", st.peers > 0, st.peers + " connected", "no peers");
    const lag = (Date.parse(hm.now) - st.block_time_ms) / 1000;
    flag("h-sync", lag < 60, "in sync, height " + st.height, "behind: last block " + Math.round(lag) + " s ago");
    flag("h-admitted", hm.participant, "admitted", "waiting for admission (give the operator the enrolment code above)", true);

    // Chart: the meter's mean power per slot (the journal, /home/power)
    // and the clearing price of the same slots, over the last 96 slots
    // (24 h of 15-minute slots); trades: this home's in those slots.
    const [power, slots, trades] = await Promise.all([api("/home/power"), api("/slots?limit=1000"),
      api("/trades?limit=1000&account=" + hm.account)]);
    const prices = new Map(slots.items.map((r) => [r.slot, r.price / 1e6]));
    const pts = power.items.length ? power.items : slots.items.map((r) => ({ slot: r.slot, start: r.start, power_w: null, covered_ms: 0 }));
    const xs = [], imp = [], exp = [], pr = [];
    for (const r of pts) {
      xs.push(Date.parse(r.start) / 1000);
      const w = r.covered_ms > 0 ? r.power_w : null;
      imp.push(w == null ? null : Math.max(w, 0)); exp.push(w == null ? null : Math.max(-w, 0));
      pr.push(prices.has(r.slot) ? prices.get(r.slot) : null);
    }
    $("chart").dataset.points = String(power.items.length);
    gm.chart("chart", {
      series: [{}, { label: "↓ import (W, mean)", stroke: "#0969da", width: 2 }, { label: "↑ export (W, mean)", stroke: "#bf3989", width: 2, dash: [6, 4] },
        { label: "price (/kWh)", stroke: "#9a6700", scale: "p", width: 1.5, dash: [2, 3] }],
      axes: [{}, { label: "W" }, { side: 1, scale: "p", label: "/kWh", grid: { show: false } }],
    }, [xs, imp, exp, pr]);

    await gm.learn(trades.items.flatMap((t) => [t.buyer, t.seller]));
    const tb = $("trades");
    const rows = trades.items.slice(-12).reverse().map((t) => {
      const buy = t.buyer === hm.account;
      const other = buy ? t.seller : t.buyer;
      const settled = t.settled_wh == null ? "pending" : "✓ " + wh(t.settled_wh);
      return el("tr", {}, el("td", {}, String(t.slot)), el("td", { class: buy ? "buy" : "sell" }, buy ? "↓ bought" : "↑ sold"),
        el("td", {}, acctLink(other)), el("td", { class: "num" }, wh(t.energy_wh)), el("td", { class: "num" }, price(t.price)),
        el("td", { class: "num" }, buy ? "−" + money(t.paid) : "+" + money(t.received)), el("td", {}, settled));
    });
    tb.replaceChildren(...(rows.length ? rows : [el("tr", {}, el("td", { colspan: "7", class: "muted" }, "no trades in the last slots"))]));
    document.body.dataset.refreshed = String(st.last_settled);
  };
  gm.live(refresh);
})();
