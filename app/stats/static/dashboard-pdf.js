// Lienthong dashboard: the PDF signatures (SPEC 5.3, 9). Self-contained beside dashboard.js:
// it waits for the main script to finish a load (body[data-ready="true"]), reads the shares the
// main script rendered in #indicators, and, for an admin or auditor, lists the PDF verdicts
// in words.
(() => {
  "use strict";

  const API = "/api/v1";
  const STORE = "lienthong.apiKey";
  const INDICATIONS = ["TOTAL_FAILED", "INDETERMINATE", "NO_SIGNATURE_FOUND", "TOTAL_PASSED"];
  const WORDS = {
    TOTAL_PASSED: "Hợp lệ / Valid",
    TOTAL_FAILED: "Không hợp lệ / Invalid",
    INDETERMINATE: "Chưa xác định / Indeterminate",
    NO_SIGNATURE_FOUND: "Chưa ký số / Not signed",
  };
  const REASONS = {
    REVOKED: "chứng thư số đã bị thu hồi / certificate revoked",
    SIG_CONSTRAINTS_FAILURE: "không phải chữ ký của cơ quan gửi / not the sender's signature",
    HASH_FAILURE: "nội dung bị sửa sau khi ký / changed after signing",
    FORMAT_FAILURE: "tệp hỏng, ký một phần hoặc vượt giới hạn / malformed, partly signed or over limits",
    NO_CERTIFICATE_CHAIN_FOUND: "CA không được tin cậy / CA not trusted",
    TRY_LATER: "chưa có dữ liệu thu hồi / no revocation data yet",
    OUT_OF_BOUNDS_NO_POE: "chứng thư hết hạn / certificate expired",
    NOT_YET_VALID: "chứng thư chưa có hiệu lực / certificate not yet valid",
    CRYPTO_CONSTRAINTS_FAILURE: "thuật toán không được phép / algorithm not allowed",
  };
  const SHARES = [
    { key: "share_signed", count: "documents_signed",
      label: "Có chữ ký số (kể cả do Trục ký thay) / Signed, incl. sealed by the hub" },
    { key: "share_self_signed", count: "documents_self_signed",
      label: "Do chính cơ quan gửi ký số / Signed by the sender itself" },
    { key: "share_pdf_signed", count: "documents_pdf_signed",
      label: "Tệp PDF có chữ ký số hợp lệ của cơ quan ban hành / PDF signed by the issuer" },
  ];
  const MAX_ROWS = 60;

  const $ = (id) => document.getElementById(id);

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
    return node;
  }

  const pct = (x) => (x === "" || x === null || x === undefined ? "—"
    : (Number(x) * 100).toFixed(1) + " %");

  async function api(path, params) {
    const qs = params ? "?" + new URLSearchParams(params).toString() : "";
    const res = await fetch(API + path + qs, {
      headers: { Authorization: "Bearer " + sessionStorage.getItem(STORE),
                 Accept: "application/json" },
      cache: "no-store",
      credentials: "omit",
    });
    return res.ok ? res.json() : null;
  }

  function indicator(key) {
    const dd = document.querySelector(`#indicators [data-key='${key}'] dd`);
    return dd ? dd.getAttribute("data-value") : "";
  }

  function renderShares() {
    const box = $("pdf-shares");
    if (!box) return;
    box.replaceChildren(...SHARES.map((s) => {
      const value = indicator(s.key);
      const meter = el("meter", { min: "0", max: "1", value: value || "0" });
      return el("div", { class: "pdf-share", "data-key": s.key, "data-value": value },
        el("span", { class: "label" }, s.label), meter,
        el("span", { class: "value" },
           `${pct(value)} (${indicator(s.count) || 0} / ${indicator("documents_exchanged") || 0})`));
    }));
  }

  function organization(signedBy) {
    if (!signedBy) return "—";
    const o = /(?:^|,)O=((?:\\.|[^,])*)/.exec(signedBy.subject || "");
    const name = o ? o[1].replace(/\\(.)/g, "$1") : signedBy.subject;
    return signedBy.organ_id ? `${name} (${signedBy.organ_id})` : name;
  }

  function words(verdict) {
    const reason = verdict.sub_indication ? REASONS[verdict.sub_indication] : "";
    return (WORDS[verdict.indication] || verdict.indication)
      + (reason ? ` — ${reason}` : verdict.sub_indication ? ` — ${verdict.sub_indication}` : "");
  }

  async function showDocument(id) {
    const doc = await api(`/documents/${encodeURIComponent(id)}`);
    const detail = $("pdf-detail");
    detail.textContent = doc ? JSON.stringify(doc, null, 2) : "Không đọc được / Not readable";
    detail.hidden = false;
  }

  async function loadVerdicts() {
    const table = $("pdf-verdicts");
    if (!table) return;
    const year = $("year").value;
    const range = { since: `${year}-01-01T00:00:00+07:00`, until: `${year}-12-31T23:59:59+07:00` };
    const lists = await Promise.all(INDICATIONS.map((pdf_indication) =>
      api("/audit/signatures", { pdf_indication, ...range, limit: MAX_ROWS })));
    const docs = lists.flatMap((l) => (l ? l.items : [])).slice(0, MAX_ROWS);
    const reports = await Promise.all(docs.map((d) =>
      api(`/documents/${encodeURIComponent(d.document)}/validation`)));
    const rows = [];
    docs.forEach((d, i) => {
      const attachments = (reports[i] && reports[i].report.attachments) || [];
      for (const a of attachments) {
        const signers = (a.signatures || []).map((s) => organization(s.signed_by));
        const link = el("a", { href: `#document-${d.document}`, "data-document": d.document },
                        d.document_id);
        link.addEventListener("click", (e) => { e.preventDefault(); showDocument(d.document); });
        rows.push(el("tr", { "data-document": d.document, "data-indication": a.indication },
          el("td", {}, link), el("td", {}, d.from),
          el("td", {}, a.path_in_zip ? `${a.name} › ${a.path_in_zip}` : a.name),
          el("td", {}, words(a)),
          el("td", {}, signers.length ? [...new Set(signers)].join("; ") : "—")));
      }
    });
    table.tBodies[0].replaceChildren(...(rows.length ? rows
      : [el("tr", {}, el("td", { colspan: "5", class: "none" }, "Không có / None"))]));
    document.body.dataset.pdfReady = "true";
  }

  function onReady() {
    renderShares();
    if (["admin", "auditor"].includes(document.body.dataset.role)) loadVerdicts();
  }

  document.addEventListener("DOMContentLoaded", () => {
    new MutationObserver(() => {
      if (document.body.dataset.ready === "true") onReady();
      else document.body.dataset.pdfReady = "false";
    }).observe(document.body, { attributes: true, attributeFilter: ["data-ready"] });
  });
})();
