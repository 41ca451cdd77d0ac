// The home page's enrolment panel: while the chain does not know this node's
// key, its enrolment code and that code's QR code (GET /api/v1/status,
// enrolment_code and enrolment_qr, a data: URI), checked again every 30 s
// until the node is admitted.
"use strict";
(() => {
  const show = async () => {
    try {
      const st = await gm.api("/status");
      gm.$("enrol").hidden = st.admitted;
      if (st.admitted) return;
      gm.$("enrol-code").textContent = st.enrolment_code;
      gm.$("enrol-lan").hidden = !st.lan_name;
      gm.$("enrol-lan-name").textContent = st.lan_name || "";
      if (st.enrolment_qr && gm.$("enrol-qr").getAttribute("src") !== st.enrolment_qr) gm.$("enrol-qr").src = st.enrolment_qr;
    } catch (e) {
      // The home page's own refresh reports an API that does not answer.
    }
    setTimeout(show, 30000);
  };
  show();
})();
