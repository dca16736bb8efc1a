// Lienthong dashboard: plain DOM + inline SVG, nothing loaded from elsewhere.
// The API key lives in sessionStorage and travels only in the Authorization header.
// Each role sees its panels (ROLE_PANELS) and calls only the endpoints those panels need.
(() => {
  "use strict";

  const API = "/api/v1";
  const STORE = "lienthong.apiKey";
  const SVG = "http://www.w3.org/2000/svg";
  const ZONE = "Asia/Ho_Chi_Minh";
  const NOT_PASSED = ["TOTAL_FAILED", "INDETERMINATE", "NO_SIGNATURE_FOUND"];
  const ROLE_NAMES = {
    admin: "Quản trị / Admin",
    auditor: "Kiểm toán / Auditor",
    reporter: "Báo cáo / Reporter",
  };
  const STATS_ROLES = ["admin", "reporter"];
  const AUDIT_ROLES = ["admin", "auditor"];

  // Signature verdicts in words (ETSI EN 319 102-1 codes stay in the title and data-code).
  const INDICATIONS = {
    TOTAL_PASSED: "Hợp lệ / Passed",
    TOTAL_FAILED: "Không hợp lệ / Failed",
    INDETERMINATE: "Chưa xác định được / Indeterminate",
    NO_SIGNATURE_FOUND: "Không có chữ ký / No signature",
    TRY_LATER: "Chờ kiểm tra lại / To check again",
  };
  const SUB_INDICATIONS = {
    FORMAT_FAILURE: "Chữ ký sai định dạng / Malformed signature",
    HASH_FAILURE: "Nội dung bị sửa sau khi ký / Content changed after signing",
    SIG_CRYPTO_FAILURE: "Chữ ký không khớp khóa / Signature does not match the key",
    REVOKED: "Chứng thư số đã bị thu hồi / Certificate revoked",
    NOT_YET_VALID: "Chứng thư số chưa có hiệu lực / Certificate not yet valid",
    SIG_CONSTRAINTS_FAILURE:
      "Người ký không phải cơ quan gửi / Signer is not the sending organization",
    CRYPTO_CONSTRAINTS_FAILURE: "Thuật toán không được chấp nhận / Algorithm not accepted",
    CERTIFICATE_CHAIN_GENERAL_FAILURE: "Chuỗi chứng thư lỗi / Certificate chain failure",
    NO_CERTIFICATE_CHAIN_FOUND:
      "Không tìm thấy chuỗi chứng thư tin cậy / No trusted certificate chain",
    NO_SIGNING_CERTIFICATE_FOUND: "Không có chứng thư ký / No signing certificate",
    OUT_OF_BOUNDS_NO_POE: "Chứng thư số đã hết hạn / Certificate expired",
    TRY_LATER: "Chưa có dữ liệu thu hồi / Revocation data not yet available",
    GENERIC: "Lỗi khác / Other failure",
  };
  const STATES = {
    queued: "Chờ gửi / Queued", sending: "Đang gửi / Sending", delivered: "Đã gửi / Delivered",
    available: "Chờ nhận / In the inbox", acknowledged: "Đã nhận / Acknowledged",
    rejected: "Bị từ chối / Rejected", dead: "Gửi thất bại / Dead",
  };
  const KINDS = { document: "Văn bản / Document", status: "Trạng thái / Status" };
  const ORIGINS = { api: "Trong tỉnh / Local system", vpcp: "Trục VPCP / National axis" };
  const LEVELS = {
    1: "Cấp 1: UBND tỉnh / Level 1: the province",
    2: "Cấp 2: sở, ngành, huyện / Level 2: departments and districts",
    3: "Cấp 3: đơn vị trực thuộc, xã / Level 3: units and communes",
  };
  const OUTSIDE = "Ngoài tỉnh, qua Trục / Outside the province, via the axis";

  const SERIES = [
    { key: "sent", label: "Văn bản đã gửi / Documents sent", cls: "s-sent" },
    { key: "received", label: "Văn bản đã nhận / Documents received", cls: "s-received" },
    { key: "central", label: "Liên thông qua Trục / With the axis", cls: "s-central" },
  ];
  const COLUMNS = [
    { key: "name", label: "Cơ quan / Organization", text: true },
    { key: "sent", label: "Đã gửi / Sent" },
    { key: "share", label: "Tỷ lệ / Share", pct: true },
    { key: "received", label: "Đã nhận / Received" },
    { key: "sent_signed", label: "Gửi có ký số / Sent signed" },
    { key: "received_valid", label: "Nhận hợp lệ / Received valid" },
    { key: "central_sent", label: "Gửi qua Trục / Sent via axis" },
    { key: "central_received", label: "Nhận qua Trục / Received via axis" },
    { key: "failed", label: "Thất bại / Failed" },
    { key: "median_delivery_seconds", label: "Thời gian chuyển / Delivery time", secs: true },
  ];

  const $ = (id) => document.getElementById(id);
  const state = { key: null, role: null, year: new Date().getFullYear(), report: null,
                  orgs: new Map(), sort: { key: "sent", dir: -1 } };

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

  // -- one number style (Vietnamese: "1.234", "80,0 %"), one time style (dd/MM/yyyy HH:mm) --

  const NUM = new Intl.NumberFormat("vi-VN");
  const ONE = new Intl.NumberFormat("vi-VN", { minimumFractionDigits: 1, maximumFractionDigits: 1 });
  const num = (n) => (n === null || n === undefined ? "—" : NUM.format(Number(n)));
  const pct = (x) => (x === null || x === undefined ? "—" : ONE.format(x * 100) + " %");
  function duration(s) {
    if (s === null || s === undefined) return "—";
    if (s < 1) return NUM.format(Math.round(s * 1000)) + " ms";
    if (s < 120) return ONE.format(s) + " giây / s";
    if (s < 7200) return ONE.format(s / 60) + " phút / min";
    return ONE.format(s / 3600) + " giờ / h";
  }
  const TIME = new Intl.DateTimeFormat("en-GB", {
    timeZone: ZONE, day: "2-digit", month: "2-digit", year: "numeric",
    hour: "2-digit", minute: "2-digit", hourCycle: "h23",
  });
  function localTime(iso) {
    if (!iso) return "—";
    const parts = Object.fromEntries(TIME.formatToParts(new Date(iso)).map((p) => [p.type, p.value]));
    return `${parts.day}/${parts.month}/${parts.year} ${parts.hour}:${parts.minute}`;
  }
  function timeCell(iso) {
    return el("td", { "data-label": "", title: iso || "" },
      iso ? el("time", { datetime: iso }, localTime(iso)) : "—");
  }

  // -- words for codes, names for OrganIds, links to documents ------------------------------

  function words(table, code) {
    if (!code) return "—";
    return table[code] || code;
  }
  function codeCell(table, code) {
    return el("td", code ? { title: code, "data-code": code } : {}, words(table, code));
  }
  const nameOf = (organ) => (state.orgs.get(organ) || {}).name || organ;
  function orgCell(organ) {
    const known = state.orgs.has(organ);
    return el("td", { "data-organ": organ, title: organ },
      known ? el("span", { class: "org" }, nameOf(organ), el("small", {}, organ)) : organ);
  }
  function documentLink(id, text) {
    return el("a", { href: "#document=" + encodeURIComponent(id), "data-document": id }, text);
  }

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

  const may = (roles) => roles.includes(state.role);

  async function signIn(key) {
    state.key = key;
    // Who is this key? Any role may ask; nothing else is called before the answer.
    const me = await api("/clients/me");
    if (me.status === 401) return fail("Khóa không hợp lệ / Invalid API key");
    if (me.status !== 200 || !me.body) return fail("Lỗi máy chủ / Server error (" + me.status + ")");
    if (!ROLE_NAMES[me.body.role]) {
      return fail("Khóa này không được xem thống kê / This key may not read statistics");
    }
    state.role = me.body.role;
    sessionStorage.setItem(STORE, key);
    await loadOrganizations();
    $("signin").hidden = true;
    $("session").hidden = false;
    $("content").hidden = false;
    $("role").textContent = ROLE_NAMES[state.role];
    document.body.dataset.role = state.role;
    for (const node of document.querySelectorAll("[data-roles]")) {
      if (!node.dataset.roles.split(" ").includes(state.role)) node.remove();
      else if (node.id !== "document-panel") node.hidden = false;
    }
    const ok = await loadYear(state.year);
    if (ok && may(AUDIT_ROLES)) await showDocumentFromHash();
    return ok;
  }

  function fail(message) {
    state.key = null;
    sessionStorage.removeItem(STORE);
    showError(message);
    return false;
  }

  async function loadOrganizations() {
    state.orgs = new Map();
    let cursor = null;
    for (let page = 0; page < 20; page++) {
      const res = await api("/organizations", cursor ? { limit: 500, cursor } : { limit: 500 });
      if (res.status !== 200 || !res.body) return;
      for (const o of res.body.items) state.orgs.set(o.organ_id, o);
      cursor = res.body.next_cursor;
      if (!cursor) return;
    }
  }

  async function loadYear(year) {
    state.year = year;
    document.body.dataset.ready = "false";
    if (may(STATS_ROLES)) {
      const res = await api("/stats/report", { year });
      if (res.status !== 200) return fail("Phiên đã hết / Session ended (" + res.status + ")");
      renderReport(res.body);
    }
    if (state.role === "admin") await loadDead();
    if (may(AUDIT_ROLES)) {
      await loadSignatures();
      await loadChain();
    }
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
      const shown = key.startsWith("share_") ? pct(value)
        : key.endsWith("_seconds") ? duration(value) : num(value);
      const item = el("div", { class: "indicator", "data-key": key });
      // A duration is shown with its own unit (ms, giây, phút), so the label drops "(s)".
      const shownLabel = key.endsWith("_seconds") ? label.replace(/ \((giây|s)\)/g, "") : label;
      item.append(el("dt", {}, shownLabel), el("dd", { "data-value": value ?? "" }, shown));
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
                      num(v)));
    }
    const slot = plotW / months.length, barW = (slot - 8) / SERIES.length;
    months.forEach((m, i) => {
      const x0 = left + i * slot + 4;
      SERIES.forEach((s, j) => {
        const h = (m[s.key] / ceiling) * plotH;
        const rect = svg("rect", { x: x0 + j * barW, y: top + plotH - h, width: barW - 1,
                                   height: h, class: "bar " + s.cls, "data-series": s.key,
                                   "data-period": m.period, "data-value": m[s.key] });
        rect.append(svg("title", {}, `${m.period} — ${s.label}: ${num(m[s.key])}`));
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

  // One row per share: its words (HTML, they wrap on a phone) above its own small SVG bar.
  function renderShares(ind) {
    const rows = [
      { key: "share_signed", label: "Tỷ lệ văn bản có ký số / Share signed",
        detail: `${num(ind.documents_signed)} / ${num(ind.documents_exchanged)}` },
      { key: "share_received_valid",
        label: "Tỷ lệ nhận có chữ ký hợp lệ / Share with a passing signature",
        detail: `${num(ind.deliveries_received_valid)} / ${num(ind.deliveries_received)}` },
    ];
    const box = el("div", { id: "shares-svg", class: "shares" });
    for (const r of rows) {
      const value = ind[r.key];
      const bar = svg("svg", { viewBox: "0 0 100 6", preserveAspectRatio: "none", role: "img",
                               "aria-label": `${r.label}: ${pct(value)}`, class: "share-bar" });
      bar.append(svg("rect", { x: 0, y: 0, width: 100, height: 6, class: "track" }));
      bar.append(svg("rect", { x: 0, y: 0, width: 100 * (value || 0), height: 6,
                               class: "bar s-signed", "data-series": r.key,
                               "data-value": value ?? "" }));
      box.append(el("div", { class: "share", "data-key": r.key },
        el("span", { class: "share-label" }, r.label),
        el("span", { class: "share-value" }, `${pct(value)} (${r.detail})`), bar));
    }
    $("shares-chart").replaceChildren(box);
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

  function groupOf(o) {
    if (o.route === "vpcp") return { order: 99, label: OUTSIDE };
    const level = (state.orgs.get(o.organ_id) || {}).level;
    if (!level) return { order: 98, label: "Khác / Other" };
    return { order: level, label: LEVELS[level] || `Cấp ${level} / Level ${level}` };
  }

  function renderOrgs() {
    if (!state.report) return;
    const needle = $("org-filter").value.trim().toLowerCase();
    const route = $("org-route").value;
    const { key, dir } = state.sort;
    const groups = new Map();
    for (const o of state.report.organizations) {
      const g = groupOf(o);
      if (!groups.has(g.order)) groups.set(g.order, { ...g, rows: [], sent: 0 });
      const group = groups.get(g.order);
      group.rows.push(o);
      group.sent += o.sent || 0;
    }
    const table = $("orgs");
    for (const body of [...table.tBodies]) body.remove();
    for (const group of [...groups.values()].sort((a, b) => a.order - b.order)) {
      const rows = group.rows
        .map((o) => ({ ...o, share: group.sent ? (o.sent || 0) / group.sent : null }))
        .filter((o) => !route || o.route === route)
        .filter((o) => !needle || o.organ_id.toLowerCase().includes(needle)
                                || o.name.toLowerCase().includes(needle))
        .sort((a, b) => {
          const x = a[key] ?? -1, y = b[key] ?? -1;
          const c = typeof x === "string" ? x.localeCompare(y, "vi") : x - y;
          return c * dir || a.organ_id.localeCompare(b.organ_id);
        });
      if (!rows.length) continue;
      const body = el("tbody", { "data-group": String(group.order) });
      body.append(el("tr", { class: "group-head" }, el("th", { colspan: String(COLUMNS.length),
        scope: "rowgroup" }, `${group.label} — ${num(group.rows.length)} cơ quan / organizations, `
        + `${num(group.sent)} văn bản đã gửi / documents sent`)));
      for (const o of rows) {
        body.append(el("tr", { "data-organ": o.organ_id, class: o.route === "vpcp" ? "external" : "" },
          ...COLUMNS.map((c) => {
            const attrs = { "data-label": c.label, class: c.text ? "" : "num" };
            if (c.key === "name") {
              return el("td", attrs, el("span", { class: "org" }, o.name, el("small", {}, o.organ_id)));
            }
            const v = o[c.key];
            return el("td", attrs, c.pct ? pct(v) : c.secs ? duration(v) : num(v));
          })));
      }
      table.append(body);
    }
  }

  function renderInactive(items) {
    const list = $("inactive");
    list.replaceChildren(...(items.length
      ? items.map((o) => el("li", { "data-organ": o.organ_id }, o.name, " ",
                            el("small", {}, o.organ_id)))
      : [el("li", { class: "none" }, "Không có / None")]));
  }

  function labelCells(row, table) {
    const heads = [...table.tHead.rows[0].cells].map((th) => th.textContent);
    [...row.cells].forEach((td, i) => td.setAttribute("data-label", heads[i] || ""));
    return row;
  }

  function noneRow(table, span) {
    return el("tr", { class: "none-row" }, el("td", { colspan: String(span), class: "none" },
      "Không có / None"));
  }

  async function loadDead() {
    const res = await api("/deliveries", { state: "dead", limit: 100 });
    const items = (res.status === 200 && res.body && res.body.items) || [];
    const table = $("dead");
    table.tBodies[0].replaceChildren(...(items.length ? items.map((d) => labelCells(el("tr",
      { "data-delivery": d.id },
      orgCell(d.organ_id), codeCell(KINDS, d.kind),
      el("td", {}, documentLink(d.document, "Xem / Open")),
      el("td", { class: "num" }, num(d.attempts)), el("td", { class: "wrap" }, d.last_error || ""),
      timeCell(d.updated_at)), table))
      : [noneRow(table, 6)]));
  }

  async function loadSignatures() {
    const since = `${state.year}-01-01T00:00:00+07:00`;
    const until = `${state.year}-12-31T23:59:59+07:00`;
    const answers = await Promise.all(NOT_PASSED.map((indication) =>
      api("/audit/signatures", { indication, since, until, limit: 100 })));
    const items = answers.flatMap((a) => (a.status === 200 && a.body ? a.body.items : []));
    items.sort((a, b) => (b.accepted_at || "").localeCompare(a.accepted_at || ""));
    const table = $("signatures");
    table.tBodies[0].replaceChildren(...(items.length ? items.map((s) => labelCells(el("tr",
      { "data-document": s.document },
      el("td", {}, documentLink(s.document, s.document_id)), orgCell(s.from),
      codeCell(INDICATIONS, s.indication), codeCell(SUB_INDICATIONS, s.sub_indication),
      codeCell(ORIGINS, s.origin), timeCell(s.accepted_at)), table))
      : [noneRow(table, 6)]));
  }

  async function loadChain() {
    const res = await api("/audit/log/verify");
    const box = $("chain");
    if (res.status !== 200 || !res.body) {
      box.textContent = "Không kiểm tra được / Could not check (" + res.status + ")";
      return;
    }
    box.dataset.ok = String(res.body.ok);
    box.textContent = res.body.ok
      ? `Chuỗi băm nguyên vẹn: ${num(res.body.entries)} mục / Hash chain intact: `
        + `${num(res.body.entries)} entries`
      : "Chuỗi băm bị phá vỡ / The hash chain is broken: " + JSON.stringify(res.body);
  }

  // -- one document: #document=<id> (admin, auditor) ----------------------------------------

  function fact(dl, label, value) {
    dl.append(el("dt", {}, label), el("dd", {}, value));
  }

  async function showDocumentFromHash() {
    const panel = $("document-panel");
    if (!panel) return;
    const match = /^#document=([^&]+)$/.exec(window.location.hash);
    if (!match) { panel.hidden = true; return; }
    const id = decodeURIComponent(match[1]);
    const res = await api("/documents/" + encodeURIComponent(id));
    panel.hidden = false;
    panel.dataset.document = id;
    const summary = $("document-summary"), sig = $("document-signature");
    summary.replaceChildren(); sig.replaceChildren();
    const deliveries = $("document-deliveries");
    deliveries.tBodies[0].replaceChildren();
    if (res.status !== 200 || !res.body) {
      fact(summary, "Lỗi / Error", "Không mở được văn bản / Could not open the document ("
        + res.status + ")");
      return;
    }
    const d = res.body;
    fact(summary, "Trích yếu / Subject", d.subject);
    fact(summary, "Số, ký hiệu / Number", d.code);
    fact(summary, "Mã văn bản / DocumentId", d.document_id);
    fact(summary, "Cơ quan gửi / From", nameOf(d.from) + " (" + d.from + ")");
    fact(summary, "Nơi nhận / To", d.to.map((o) => nameOf(o)).join("; "));
    fact(summary, "Tiếp nhận / Accepted", localTime(d.accepted_at));
    const s = d.signature || {};
    fact(sig, "Kết quả / Result", words(INDICATIONS, s.indication));
    if (s.sub_indication) fact(sig, "Lý do / Reason", words(SUB_INDICATIONS, s.sub_indication));
    if (s.signed_by) {
      fact(sig, "Người ký / Signed by", String(s.signed_by.subject || s.signed_by.organ_id || ""));
    }
    deliveries.tBodies[0].replaceChildren(...d.deliveries.map((x) => labelCells(el("tr",
      { "data-delivery": x.id }, orgCell(x.organ_id), codeCell(STATES, x.state),
      el("td", { class: "num" }, num(x.attempts)), timeCell(x.updated_at),
      el("td", { class: "wrap" }, x.last_error || "")), deliveries)));
    panel.scrollIntoView({ block: "start" });
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
    window.addEventListener("hashchange", () => {
      if (state.key && may(AUDIT_ROLES)) showDocumentFromHash();
    });
    const saved = sessionStorage.getItem(STORE);
    if (saved) signIn(saved);
  }

  document.addEventListener("DOMContentLoaded", init);
})();
