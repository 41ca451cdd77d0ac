// The network page: what a utility watches. Reads /api/v1/status, /slots,
// /authorities, /trades, /accounts/{key} and /peers.
"use strict";
(() => {
  const { api, $, el, set, wh, money, price, acctLink } = gm;
  const td = (v, cls) => el("td", { class: cls }, v);
  let participantsAt = 0; // when the participants were last read (ms)
  const refresh = async () => {
    const [st, slots, auth, peers] = await Promise.all([api("/status"), api("/slots?limit=1000"), api("/authorities"), api("/peers")]);
    set("network", st.network);
    set("height", String(st.height), st.height);
    set("last-settled", st.last_settled >= 0 ? String(st.last_settled) : "none yet", st.last_settled);
    set("pending", String(st.pending_txs), st.pending_txs);
    let vol = 0, energy = 0, imb = 0, fees = 0;
    const xs = [], ps = [], vs = [];
    for (const r of slots.items) {
      vol += r.volume_wh; energy += r.settled_wh; imb += r.imbalance_wh; fees += r.fees;
      xs.push(Date.parse(r.start) / 1000); ps.push(r.price / 1e6); vs.push(r.volume_wh);
    }
    set("n-slots", String(slots.items.length), slots.items.length);
    set("traded", wh(vol), vol);
    set("settled", wh(energy), energy);
    set("imbalance", (imb === 0 ? "✓ " : "⚠ ") + wh(imb), imb);
    set("fees", money(fees), fees);
    gm.chart("chart", {
      series: [{}, { label: "price (/kWh)", stroke: "#9a6700", width: 2 }, { label: "volume (Wh)", stroke: "#0969da", scale: "wh", width: 2, dash: [6, 4] }],
      axes: [{}, { label: "/kWh" }, { side: 1, scale: "wh", label: "Wh", grid: { show: false } }],
    }, [xs, ps, vs]);
    $("slots").replaceChildren(...slots.items.slice(-20).reverse().map((r) => el("tr", {},
      td(String(r.slot)), td(gm.time(r.start)), td(price(r.price), "num"), td(wh(r.volume_wh), "num"), td(String(r.trades), "num"),
      td(r.settled ? "✓ " + wh(r.settled_wh) : "pending", "num"), td(r.settled ? wh(r.imbalance_wh) : "–", "num"), td(money(r.fees), "num"))));
    for (const a of auth.items) if (a.name) gm.names.set(a.key, a.name);
    $("authorities").replaceChildren(...auth.items.map((a) => el("tr", {},
      el("td", {}, acctLink(a.key)), el("td", { class: a.live ? "ok" : "bad" }, a.live ? "live" : "silent"),
      td(String(a.last_signed_height), "num"), td(String(a.signed), "num"), td(String(a.missed), "num"))));
    $("peers").replaceChildren(...(peers.items.length ? peers.items.map((p) => el("tr", {}, el("td", { class: "mono" }, p.id), td(p.via))) :
      [el("tr", {}, el("td", { colspan: "2", class: "bad" }, "no peers"))]));
    // The participants change slowly and take a request each: read them at
    // most once a minute.
    if (Date.now() - participantsAt > 60000) {
      participantsAt = Date.now();
      const accts = await gm.knownAccounts();
      accts.sort((a, b) => (a.name || a.key).localeCompare(b.name || b.key));
      $("participants").replaceChildren(...accts.map((a) => el("tr", {},
        td(a.name || "–"), el("td", {}, acctLink(a.key)), td(a.roles.join(", ") || "–"),
        el("td", { class: a.roles.includes("participant") ? "ok" : "warn" }, a.roles.includes("participant") ? (a.admitted_height != null ? "at height " + a.admitted_height : "yes") : "not admitted"),
        td(money(a.balance), "num"))));
    }
    document.body.dataset.refreshed = String(st.last_settled);
  };
  gm.live(refresh);
})();
