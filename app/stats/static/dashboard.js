// Lienthong statistics dashboard: plain DOM + inline SVG, nothing loaded from elsewhere.
// The API key lives in sessionStorage and travels only in the Authorization header.
(() => {
  "use strict";

  const API = "/api/v1";
  const STORE = "lienthong.apiKey";
  const SVG = "http://www.w3.org/2000/svg";
  const NOT_PASSED = ["TOTAL_FAILED", "INDETERMINATE", "NO_SIGNATURE_FOUND"];
  const SERIES = [
    { key: "sent", label: "Văn bản đã gửi / Documents sent", cls: "s-sent" },
    { key: "received", label: "Văn bản đã nhận / Documents received", cls: "s-received" },
    { key: "central", label: "Liên thông qua Trục / With the axis", cls: "s-central" },
  ];
  const COLUMNS = [
    { key: "organ_id", label: "Mã / Code", text: true },
    { key: "name", label: "Tên / Name", text: true },
    { key: "sent", label: "Đã gửi / Sent" },
    { key: "received", label: "Đã nhận / Received" },
    { key: "sent_signed", label: "Gửi có ký số / Sent signed" },
    { key: "received_valid", label: "Nhận hợp lệ / Received valid" },
    { key: "central_sent", label: "Gửi qua Trục / Sent via axis" },
    { key: "central_received", label: "Nhận qua Trục / Received via axis" },
    { key: "failed", label: "Thất bại / Failed" },
    { key: "median_delivery_seconds", label: "Trung vị (giây) / Median (s)" },
  ];

  const $ = (id) => document.getElementById(id);
  const state = { key: null, role: null, year: new Date().getFullYear(), report: null,
                  sort: { key: "sent", dir: -1 } };

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
    return node;
  }

  function svg(tag, attrs, text) {
    const node = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
    if (text !== undefined) node.textContent = text;
    return node;
  }

  const num = (n) => (n === null || n === undefined ? "—" : Number(n).toLocaleString("vi-VN"));
  const pct = (x) => (x === null || x === undefined ? "—" : (x * 100).toFixed(1) + " %");

  async function api(path, params, accept) {
    const qs = params ? "?" + new URLSearchParams(params).toString() : "";
    const res = await fetch(API + path + qs, {
      headers: { Authorization: "Bearer " + state.key, Accept: accept || "application/json" },
      cache: "no-store",
      credentials: "omit",
    });
    if (accept === "text/csv") return { status: res.status, blob: res.ok ? await res.blob() : null };
    let body = null;
    try { body = await res.json(); } catch (_) { body = null; }
    return { status: res.status, body };
  }

  function showError(message) {
    const box = $("signin-error");
    box.textContent = message;
    box.hidden = false;
  }

  async function signIn(key) {
    state.key = key;
    const probe = await api("/stats/report", { year: state.year });
    if (probe.status === 401) return fail("Khóa không hợp lệ / Invalid API key");
    if (probe.status === 403) {
      return fail("Khóa này không được xem thống kê / This key may not read statistics");
    }
    if (probe.status !== 200) return fail("Lỗi máy chủ / Server error (" + probe.status + ")");
    sessionStorage.setItem(STORE, key);
    // Only an admin may list dead deliveries: that answer tells the two roles apart.
    const dead = await api("/deliveries", { state: "dead", limit: 100 });
    state.role = dead.status === 200 ? "admin" : "reporter";
    $("signin").hidden = true;
    $("session").hidden = false;
    $("content").hidden = false;
    $("role").textContent = state.role === "admin"
      ? "Quản trị / Admin" : "Báo cáo / Reporter";
    document.body.dataset.role = state.role;
    if (state.role === "admin") {
      for (const panel of document.querySelectorAll("[data-admin-only]")) panel.hidden = false;
      renderDead(dead.body);
      await loadSignatures();
    } else {
      for (const panel of document.querySelectorAll("[data-admin-only]")) panel.remove();
    }
    renderReport(probe.body);
    document.body.dataset.ready = "true";
    return true;
  }

  function fail(message) {
    state.key = null;
    sessionStorage.removeItem(STORE);
    showError(message);
    return false;
  }

  async function loadYear(year) {
    state.year = year;
    document.body.dataset.ready = "false";
    const res = await api("/stats/report", { year });
    if (res.status !== 200) return fail("Phiên đã hết / Session ended (" + res.status + ")");
    renderReport(res.body);
    if (state.role === "admin") await loadSignatures();
    document.body.dataset.ready = "true";
    return true;
  }

  function renderReport(report) {
    state.report = report;
    $("year-label").textContent = String(report.year);
    renderIndicators(report);
    renderMonths(report.months);
    renderShares(report.indicators);
    renderOrgHeader();
    renderOrgs();
    renderInactive(report.inactive);
  }

  function renderIndicators(report) {
    const box = $("indicators");
    box.replaceChildren();
    for (const [key, label] of Object.entries(report.labels)) {
      const value = report.indicators[key];
      const shown = key.startsWith("share_") ? pct(value) : num(value);
      const item = el("div", { class: "indicator", "data-key": key });
      item.append(el("dt", {}, label), el("dd", { "data-value": value ?? "" }, shown));
      box.append(item);
    }
  }

  function renderMonths(months) {
    const legend = $("months-legend");
    legend.replaceChildren(...SERIES.map((s) => el("span", { class: "key " + s.cls }, s.label)));
    const W = 760, H = 280, left = 48, bottom = 36, top = 12;
    const plotW = W - left - 10, plotH = H - bottom - top;
    const max = Math.max(1, ...months.flatMap((m) => SERIES.map((s) => m[s.key])));
    const step = niceStep(max);
    const ceiling = Math.ceil(max / step) * step;
    const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", id: "months-svg",
                              "aria-label": "Văn bản theo tháng / Documents per month" });
    for (let v = 0; v <= ceiling; v += step) {
      const y = top + plotH - (v / ceiling) * plotH;
      root.append(svg("line", { x1: left, x2: W - 10, y1: y, y2: y, class: "grid" }));
      root.append(svg("text", { x: left - 6, y: y + 4, class: "tick", "text-anchor": "end" },
                      v.toLocaleString("vi-VN")));
    }
    const slot = plotW / months.length, barW = (slot - 8) / SERIES.length;
    months.forEach((m, i) => {
      const x0 = left + i * slot + 4;
      SERIES.forEach((s, j) => {
        const h = (m[s.key] / ceiling) * plotH;
        const rect = svg("rect", { x: x0 + j * barW, y: top + plotH - h, width: barW - 1,
                                   height: h, class: "bar " + s.cls, "data-series": s.key,
                                   "data-period": m.period, "data-value": m[s.key] });
        rect.append(svg("title", {}, `${m.period} — ${s.label}: ${m[s.key]}`));
        root.append(rect);
      });
      root.append(svg("text", { x: x0 + slot / 2 - 4, y: H - bottom + 16, class: "tick",
                                "text-anchor": "middle" }, "T" + Number(m.period.slice(5))));
    });
    $("months-chart").replaceChildren(root);
  }

  function niceStep(max) {
    const raw = max / 5, mag = Math.pow(10, Math.floor(Math.log10(raw)));
    for (const m of [1, 2, 5, 10]) if (raw <= m * mag) return Math.max(1, m * mag);
    return Math.max(1, 10 * mag);
  }

  function renderShares(ind) {
    const rows = [
      { key: "share_signed", label: "Tỷ lệ văn bản có ký số / Share signed",
        detail: `${num(ind.documents_signed)} / ${num(ind.documents_exchanged)}` },
      { key: "share_received_valid",
        label: "Tỷ lệ nhận có chữ ký hợp lệ / Share with a passing signature",
        detail: `${num(ind.deliveries_received_valid)} / ${num(ind.deliveries_received)}` },
    ];
    const W = 760, rowH = 46;
    const root = svg("svg", { viewBox: `0 0 ${W} ${rows.length * rowH + 8}`, role: "img",
                              id: "shares-svg", "aria-label": "Chữ ký số / Digital signatures" });
    rows.forEach((r, i) => {
      const y = 8 + i * rowH, value = ind[r.key];
      root.append(svg("text", { x: 0, y: y + 12, class: "label" }, r.label));
      root.append(svg("rect", { x: 0, y: y + 18, width: 560, height: 16, class: "track" }));
      const fill = svg("rect", { x: 0, y: y + 18, width: 560 * (value || 0), height: 16,
                                 class: "bar s-signed", "data-series": r.key,
                                 "data-value": value ?? "" });
      fill.append(svg("title", {}, `${r.label}: ${pct(value)}`));
      root.append(fill);
      root.append(svg("text", { x: 570, y: y + 31, class: "value" },
                      `${pct(value)}  (${r.detail})`));
    });
    $("shares-chart").replaceChildren(root);
  }

  function renderOrgHeader() {
    const row = $("orgs").tHead.rows[0];
    row.replaceChildren(...COLUMNS.map((c) => {
      const th = el("th", { scope: "col", "data-key": c.key, tabindex: "0",
                            "aria-sort": state.sort.key === c.key
                              ? (state.sort.dir > 0 ? "ascending" : "descending") : "none" },
                    c.label);
      const sortBy = () => {
        state.sort = { key: c.key, dir: state.sort.key === c.key ? -state.sort.dir
                                                                   : (c.text ? 1 : -1) };
        renderOrgHeader();
        renderOrgs();
      };
      th.addEventListener("click", sortBy);
      th.addEventListener("keydown", (e) => { if (e.key === "Enter") sortBy(); });
      return th;
    }));
  }

  function renderOrgs() {
    if (!state.report) return;
    const needle = $("org-filter").value.trim().toLowerCase();
    const route = $("org-route").value;
    const { key, dir } = state.sort;
    const rows = state.report.organizations
      .filter((o) => !route || o.route === route)
      .filter((o) => !needle || o.organ_id.toLowerCase().includes(needle)
                              || o.name.toLowerCase().includes(needle))
      .sort((a, b) => {
        const x = a[key] ?? -1, y = b[key] ?? -1;
        const c = typeof x === "string" ? x.localeCompare(y, "vi") : x - y;
        return c * dir || a.organ_id.localeCompare(b.organ_id);
      });
    $("orgs").tBodies[0].replaceChildren(...rows.map((o) => el("tr",
      { "data-organ": o.organ_id, class: o.route === "vpcp" ? "external" : "" },
      ...COLUMNS.map((c) => el("td", c.text ? {} : { class: "num" },
        c.text ? o[c.key] : num(o[c.key]))))));
  }

  function renderInactive(items) {
    const list = $("inactive");
    list.replaceChildren(...(items.length
      ? items.map((o) => el("li", { "data-organ": o.organ_id }, `${o.name} (${o.organ_id})`))
      : [el("li", { class: "none" }, "Không có / None")]));
  }

  function renderDead(body) {
    const items = (body && body.items) || [];
    $("dead").tBodies[0].replaceChildren(...(items.length ? items.map((d) => el("tr",
      { "data-delivery": d.id },
      el("td", {}, d.organ_id), el("td", {}, d.kind), el("td", {}, d.document),
      el("td", { class: "num" }, num(d.attempts)), el("td", {}, d.last_error || ""),
      el("td", {}, d.updated_at || "")))
      : [el("tr", {}, el("td", { colspan: "6", class: "none" }, "Không có / None"))]));
  }

  async function loadSignatures() {
    const since = `${state.year}-01-01T00:00:00+07:00`;
    const until = `${state.year}-12-31T23:59:59+07:00`;
    const answers = await Promise.all(NOT_PASSED.map((indication) =>
      api("/audit/signatures", { indication, since, until, limit: 100 })));
    const items = answers.flatMap((a) => (a.status === 200 && a.body ? a.body.items : []));
    $("signatures").tBodies[0].replaceChildren(...(items.length ? items.map((s) => el("tr",
      { "data-document": s.document },
      el("td", {}, s.document_id), el("td", {}, s.from), el("td", {}, s.indication || ""),
      el("td", {}, s.sub_indication || ""), el("td", {}, s.origin || ""),
      el("td", {}, s.accepted_at || "")))
      : [el("tr", {}, el("td", { colspan: "6", class: "none" }, "Không có / None"))]));
    await loadHeld();
  }

  // Documents from the axis held for lack of revocation data (SPEC 5.1): a count, shown when any.
  async function loadHeld() {
    const res = await api("/audit/signatures", { state: "held", limit: 500 });
    const count = res.status === 200 && res.body ? res.body.items.length : 0;
    const box = $("held");
    box.textContent = `Đang giữ chờ kiểm tra lại / Held for re-validation: ${count}`
      + (res.body && res.body.next_cursor ? "+" : "");
    box.hidden = count === 0;
  }

  async function downloadCsv() {
    const res = await api("/stats/report", { year: state.year }, "text/csv");
    if (!res.blob) return;
    const url = URL.createObjectURL(res.blob);
    const a = el("a", { href: url, download: `bao-cao-lien-thong-${state.year}.csv` });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 1000);
  }

  function init() {
    const years = $("year");
    const now = new Date().getFullYear();
    const asked = Number(new URLSearchParams(window.location.search).get("year"));
    if (asked >= 2000 && asked <= 2200) state.year = asked;
    const shown = new Set([state.year]);
    for (let y = now; y >= now - 5; y--) shown.add(y);
    for (const y of [...shown].sort((a, b) => b - a)) {
      years.append(el("option", { value: String(y) }, y));
    }
    years.value = String(state.year);
    years.addEventListener("change", () => loadYear(Number(years.value)));
    $("signin-form").addEventListener("submit", (e) => {
      e.preventDefault();
      $("signin-error").hidden = true;
      const key = $("apikey").value.trim();
      $("apikey").value = "";
      if (key) signIn(key);
    });
    $("signout").addEventListener("click", () => {
      sessionStorage.removeItem(STORE);
      window.location.replace("/dashboard");
    });
    $("csv").addEventListener("click", downloadCsv);
    $("org-filter").addEventListener("input", renderOrgs);
    $("org-route").addEventListener("change", renderOrgs);
    const saved = sessionStorage.getItem(STORE);
    if (saved) signIn(saved);
  }

  document.addEventListener("DOMContentLoaded", init);
})();
