// Shared by the service desk console and the engineer pages: texts, API calls, the live socket, time formats.

import { chartLinksHtml, withoutChartLinks } from "./chart_links.js";
import { formatTime as formatLocal } from "./localtime.js";

let TEXTS = {};

export function setTexts(texts) { TEXTS = texts || {}; }

// One translation lookup: the server renders the texts of the page's language into the page.
export function t(key) { return TEXTS[key] ?? key; }

// A metric's display name (the page's texts carry metric.<key> for the known ones); an unknown metric keeps its key.
export function metricName(key) { return TEXTS[`metric.${key}`] ?? key; }

export function esc(value) {
  return String(value ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
}

export class ApiError extends Error {
  constructor(status, body) {
    super((body && body.detail) || `HTTP ${status}`);
    this.status = status;
    this.body = body || {};
  }
}

// Cookie-authenticated calls; changes carry X-Requested-With so the server knows they are not cross-site.
export async function api(path, { method = "GET", json, form } = {}) {
  const headers = { "X-Requested-With": "medfix", Accept: "application/json" };
  let body;
  if (json !== undefined) { headers["Content-Type"] = "application/json"; body = JSON.stringify(json); }
  if (form !== undefined) body = form;
  const response = await fetch(path, { method, headers, body, credentials: "same-origin" });
  const text = await response.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = { detail: text }; }
  if (response.status === 401) { window.location.href = `/login?next=${encodeURIComponent(location.pathname + location.search)}`; }
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

export function actOn(ticket, action, fields = {}) {
  // The version the person saw goes along: a stale one answers 409 instead of overwriting someone else.
  return api(`/api/v1/tickets/${ticket.id}/actions`, { method: "POST", json: { action, version: ticket.version, ...fields } });
}

export function isConflict(error) { return error instanceof ApiError && error.status === 409; }

// The /ws/console feed with reconnect (exponential backoff with jitter) and a ping every 25 s. It asks for
// batches: a frame is one message or a JSON array of them, handed to onMessage one at a time, in order.
export class LiveSocket {
  constructor({ onMessage, onState, onReconnect }) {
    this.onMessage = onMessage;
    this.onState = onState || (() => {});
    this.onReconnect = onReconnect || (() => {});
    this.attempt = 0;
    this.everOpen = false;
    this.ws = null;
    this.pingTimer = null;
    this.connect();
  }

  connect() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const ws = new WebSocket(`${scheme}://${location.host}/ws/console?batch=1`);
    this.ws = ws;
    this.onState(this.everOpen ? "reconnecting" : "connecting");
    ws.onopen = () => {
      this.attempt = 0;
      this.onState("open");
      clearInterval(this.pingTimer);
      this.pingTimer = setInterval(() => { if (ws.readyState === WebSocket.OPEN) ws.send("ping"); }, 25000);
      // Anything missed while the socket was down is fetched again, so the view never silently drifts.
      if (this.everOpen) this.onReconnect();
      this.everOpen = true;
    };
    ws.onmessage = (event) => {
      if (event.data === "pong") return;
      let data;
      try { data = JSON.parse(event.data); } catch { return; }
      for (const message of Array.isArray(data) ? data : [data]) {
        // The server's link to the other workers was down for a while: fetch again what may have been missed.
        if (message.type === "resync") this.onReconnect(); else this.onMessage(message);
      }
    };
    ws.onclose = () => {
      clearInterval(this.pingTimer);
      this.onState("reconnecting");
      const delay = Math.min(30000, 1000 * 2 ** this.attempt) * (0.75 + Math.random() * 0.5);
      this.attempt += 1;
      setTimeout(() => this.connect(), delay);
    };
    ws.onerror = () => ws.close();
  }
}

// A ticket's text with its chart links as short "Alert chart ›" links (chart_links.js).
export function richText(text) {
  return chartLinksHtml(text, t("Alert chart"), esc);
}

// The same text for one-line previews (the queue, recent tickets, alerts): a chart link shrinks to its label.
export function shortText(text) {
  return withoutChartLinks(text, t("Alert chart"));
}

export function parseTime(value) {
  if (!value) return null;
  // Timestamps are UTC; older rows may come without an offset.
  const text = /[zZ]|[+-]\d\d:?\d\d$/.test(value) ? value : `${value}Z`;
  return new Date(text);
}

// Wall-clock time in the hospital's zone (localtime.js), not the browser's: today as "18:30", this year as
// "12-01 18:30", else "2025-12-01 18:30".
export function formatTime(value) {
  const date = parseTime(value);
  if (!date) return "";
  const full = formatLocal(date);
  const now = formatLocal(new Date());
  if (full.slice(0, 10) === now.slice(0, 10)) return full.slice(11);
  // Another year keeps its year: a repair history reaches back, and "12-10" of last year reads as next week.
  return full.slice(0, 4) === now.slice(0, 4) ? full.slice(5) : full;
}

export function ago(value) {
  const date = parseTime(value);
  if (!date) return "";
  const minutes = Math.floor((Date.now() - date.getTime()) / 60000);
  if (minutes < 1) return t("just now");
  if (minutes < 60) return `${minutes} ${t("min ago")}`;
  if (minutes < 1440) return `${Math.floor(minutes / 60)} ${t("h ago")}`;
  return `${Math.floor(minutes / 1440)} ${t("d ago")}`;
}

function span(ms) {
  const total = Math.floor(Math.abs(ms) / 1000);
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  const pad = (n) => String(n).padStart(2, "0");
  return h > 0 ? `${h}:${pad(m)}:${pad(s)}` : `${pad(m)}:${pad(s)}`;
}

const SLA_STATUSES = new Set(["submitted", "escalated", "dispatched", "accepted", "on_site", "reopened"]);

// The SLA that matters now: first response until someone responded, then resolution.
export function slaState(ticket, now = Date.now()) {
  if (!SLA_STATUSES.has(ticket.status)) return null;
  const responded = Boolean(ticket.first_responded_at);
  const due = parseTime(responded ? ticket.resolution_due_at : ticket.first_response_due_at);
  if (!due) return null;
  const remaining = due.getTime() - now;
  const label = t(responded ? "Resolution" : "Response");
  // Amber in the last quarter of the window (at least the last 5 minutes), red once it has passed.
  const created = parseTime(ticket.created_at);
  const windowMs = created ? due.getTime() - created.getTime() : 0;
  const level = remaining < 0 ? "overdue" : remaining < Math.max(5 * 60000, windowMs / 4) ? "soon" : "ok";
  const text = remaining < 0 ? `${label} ${t("overdue")} ${span(remaining)}` : `${label} ${t("left")} ${span(remaining)}`;
  return { level, text };
}

export function slaBadge(ticket) {
  const sla = slaState(ticket);
  if (!sla) return "";
  return `<span class="sla sla-${sla.level}" data-sla="${ticket.id}">${esc(sla.text)}</span>`;
}

// Re-render every visible SLA badge once a second from the tickets we hold.
export function tickSla(lookup) {
  document.querySelectorAll("[data-sla]").forEach((el) => {
    const ticket = lookup(Number(el.dataset.sla));
    const sla = ticket && slaState(ticket);
    if (!sla) { el.remove(); return; }
    el.textContent = sla.text;
    el.className = `sla sla-${sla.level}`;
  });
}

export function statusBadge(status) {
  return `<span class="tstatus ts-${esc(status)}">${esc(t(status))}</span>`;
}

export function deviceLabel(ticket) {
  if (ticket.device_system_number) return `${ticket.device_system_number} · ${ticket.device_model || ""}`;
  return ticket.group_name ? `${ticket.group_name} (${t("whole group")})` : "";
}

// A WeChat photo or voice note still being fetched or converted (state pending), or one that failed.
function mediaState(a) {
  if (a.state !== "pending" && a.state !== "failed") return "";
  let text = t("media.pending");
  if (a.state === "failed") text = a.kind === "voice" && a.url ? t("media.voice_failed") : t("media.fetch_failed");
  return `<span class="media-state media-state--${esc(a.state)}">${esc(text)}</span>`;
}

export function mediaHtml(ticket) {
  const photos = ticket.attachments.filter((a) => a.kind === "photo");
  const voices = ticket.attachments.filter((a) => a.kind === "voice");
  let html = "";
  if (photos.length) {
    html += `<div class="photos">${photos.map((p) => (p.url && p.state !== "failed"
      ? `<button type="button" class="thumb" data-full="${esc(p.url)}">`
        + `<img src="${esc(p.url)}" alt="${esc(t("Photos"))}" loading="lazy"></button>`
      : mediaState(p))).join("")}</div>`;
  }
  for (const v of voices) {
    // A failed conversion keeps the original recording (AMR): offered for download, few browsers play it.
    const original = t("media.original");
    const player = !v.url ? "" : v.state === "failed"
      ? `<a href="${esc(v.url)}" download>${esc(original)}</a>`
      : `<audio controls preload="metadata" src="${esc(v.url)}"></audio>`;
    html += `<div class="voice">${mediaState(v)}${player}`
      + (v.duration_s ? `<span class="muted small">${v.duration_s}″</span>` : "")
      + (v.transcript ? `<div class="transcript"><span class="muted small">${esc(t("Transcript"))}：</span>${esc(v.transcript)}</div>` : "")
      + "</div>";
  }
  return html;
}

// A full-size view of a photo over the page; any click or Escape closes it.
export function enableLightbox(root = document) {
  root.addEventListener("click", (event) => {
    const thumb = event.target.closest(".thumb[data-full]");
    if (!thumb) return;
    const overlay = document.createElement("div");
    overlay.className = "lightbox";
    overlay.innerHTML = `<img src="${esc(thumb.dataset.full)}" alt="">`;
    const close = () => { overlay.remove(); document.removeEventListener("keydown", onKey); };
    const onKey = (e) => { if (e.key === "Escape") close(); };
    overlay.addEventListener("click", close);
    document.addEventListener("keydown", onKey);
    document.body.appendChild(overlay);
  });
}

// Audit rows name system actors by a technical label; people see who that was.
const SYSTEM_ACTORS = { "reporter-link": "Reporter", system: "System" };

// People by their full name (the API's actor_name), system actors by what they are (the page's actor.* texts); a
// username only as a last resort.
function actorLabel(entry) {
  if (entry.actor_name) return entry.actor_name;
  if (SYSTEM_ACTORS[entry.actor]) return t(SYSTEM_ACTORS[entry.actor]);
  return TEXTS[`actor.${entry.actor}`] ?? entry.actor;
}

export function timelineHtml(entries) {
  return entries.map((e) => {
    const detail = [];
    if (e.details && e.details.engineer) detail.push(`→ ${esc(e.details.engineer)}`);
    if (e.details && e.details.parts_used) detail.push(`${esc(t("Parts used"))}：${esc(e.details.parts_used)}`);
    // A resolution's fault category (by name, never the code), root cause and parts.
    if (e.details && e.details.fault_category_name) detail.push(`${esc(t("Fault category"))}：${esc(e.details.fault_category_name)}`);
    if (e.details && e.details.root_cause) detail.push(`${esc(t("Root cause"))}：${esc(e.details.root_cause)}`);
    if (e.details && e.details.parts) {
      detail.push(`${esc(t("Parts used"))}：${e.details.parts.map((p) => `${esc(p.name)}${p.part_no ? ` (${esc(p.part_no)})` : ""} ×${esc(p.qty)}`).join("、")}`);
    }
    if (e.details && e.details.merged_from) {
      detail.push(`${esc(t("Merged from"))} <a href="?ticket=${esc(e.details.merged_from_id)}" data-open="${esc(e.details.merged_from_id)}" class="mono">${esc(e.details.merged_from)}</a>`);
      if (e.details.reporter) detail.push(`${esc(t("Reporter"))}：${esc(e.details.reporter)}`);
    }
    if (e.details && e.details.merged_into) {
      detail.push(`${esc(t("Merged into"))} <a href="?ticket=${esc(e.details.merged_into_id)}" data-open="${esc(e.details.merged_into_id)}" class="mono">${esc(e.details.merged_into)}</a>`);
    }
    return `<li class="tl-item${e.internal ? " internal" : ""}">`
      + `<div class="tl-head"><strong>${esc(t(`action.${e.action}`))}</strong>`
      + (e.internal ? ` <span class="tag-internal">${esc(t("Internal"))}</span>` : "")
      + (e.status && e.action !== "note" ? ` ${statusBadge(e.status)}` : "")
      + `<span class="tl-meta muted small">${esc(actorLabel(e))} · ${esc(formatTime(e.at))}</span></div>`
      + (e.text ? `<div class="tl-text">${richText(e.text)}</div>` : "")
      + (detail.length ? `<div class="tl-text muted small">${detail.join(" ")}</div>` : "")
      + "</li>";
  }).join("");
}

// A WeUI-like confirmation over the page: resolves true on the main button, false on cancel, Escape or the mask.
export function confirmDialog({ title, text, ok, cancel, danger = false }) {
  return new Promise((resolve) => {
    const mask = document.createElement("div");
    mask.className = "dlg-mask";
    mask.innerHTML = `<div class="dlg" role="alertdialog" aria-modal="true" aria-labelledby="dlg-title">`
      + `<div class="dlg-hd" id="dlg-title">${esc(title)}</div><div class="dlg-bd">${esc(text)}</div>`
      + `<div class="dlg-ft"><button type="button" class="dlg-btn dlg-cancel">${esc(cancel || t("Cancel"))}</button>`
      + `<button type="button" class="dlg-btn dlg-ok${danger ? " dlg-danger" : ""}">${esc(ok || t("Confirm"))}</button></div></div>`;
    const done = (value) => { mask.remove(); document.removeEventListener("keydown", onKey, true); resolve(value); };
    const onKey = (event) => { if (event.key === "Escape") { event.stopPropagation(); done(false); } };
    mask.addEventListener("click", (event) => {
      if (event.target === mask || event.target.closest(".dlg-cancel")) done(false);
      else if (event.target.closest(".dlg-ok")) done(true);
    });
    document.addEventListener("keydown", onKey, true);
    document.body.appendChild(mask);
    mask.querySelector(".dlg-ok").focus();
  });
}
