// The reporter's ticket page: live status and timeline; add information, confirm, reopen, rate.

import { chartLinksHtml } from "./chart_links.js";
import { formatTime } from "./localtime.js";
import { weuiDialog } from "./weui_dialog.js";

const STEPS = ["submitted", "dispatched", "on_site", "resolved", "closed"];
// Solved without a visit (by the bot, the desk or the remote centre): no engineer step was ever reached.
const REMOTE_STEPS = ["submitted", "solved", "closed"];
// Statuses after which nothing changes: the page stops saying it updates by itself.
const FINAL = new Set(["closed", "cancelled", "merged"]);

function el(id) { return document.getElementById(id); }

function escapeHtml(text) {
  return String(text ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
}

export function startTicketPage(texts) {
  const root = el("ticket");
  const id = root.dataset.id;
  const key = root.dataset.key;
  const headers = { "X-Requested-With": "medfix", ...(key ? { "X-Reporter-Key": key } : {}) };
  let ticket = null;

  const fail = (text) => { const box = el("action-error"); box.textContent = text; box.hidden = !text; };

  async function load() {
    const response = await fetch(`/api/v1/tickets/${id}`, { headers });
    if (!response.ok) return;
    ticket = await response.json();
    render();
  }

  async function act(action, extra = {}) {
    fail("");
    const response = await fetch(`/api/v1/tickets/${id}/actions`, {
      method: "POST",
      headers: { ...headers, "Content-Type": "application/json" },
      body: JSON.stringify({ action, version: ticket.version, ...extra }),
    });
    const data = await response.json().catch(() => ({}));
    if (!response.ok) {
      fail(response.status === 409 ? texts.changed : (data.detail || `HTTP ${response.status}`));
      await load();
      return false;
    }
    ticket = data;
    render();
    return true;
  }

  function renderProgress() {
    const remote = ticket.tier && ticket.tier !== "on_site";
    const steps = remote ? REMOTE_STEPS : STEPS;
    const reached = remote ? { resolved: 1, closed: 2 }[ticket.status] ?? 0
      : { submitted: 0, escalated: 0, reopened: 0, dispatched: 1, accepted: 1, on_site: 2, resolved: 3, closed: 4,
        cancelled: -1 }[ticket.status];
    el("progress").innerHTML = steps.map((step, i) =>
      `<div class="progress__step ${i <= reached ? "done" : ""} ${i === reached ? "now" : ""}">
        <i></i><span>${escapeHtml(texts.steps[step])}</span></div>`).join("");
  }

  // Before: what the reporter sent (submit, add_info); after: what came with the repair (complete and later).
  function photoStages() {
    const before = new Set();
    for (const entry of ticket.timeline || []) {
      if (["submit", "add_info"].includes(entry.action)) (entry.details.attachments || []).forEach((i) => before.add(i));
    }
    const photos = ticket.attachments.filter((a) => a.kind === "photo");
    const withKey = (url) => (key ? `${url}?k=${encodeURIComponent(key)}` : url);
    // A WeChat photo still being fetched (pending) or one WeChat never handed over (failed) has no picture yet.
    const shown = (p) => (p.url && p.state !== "failed"
      ? `<button type="button" class="thumb" data-full="${escapeHtml(withKey(p.url))}"><img src="${escapeHtml(withKey(p.url))}" alt="" loading="lazy"></button>`
      : `<span class="media-state media-state--${escapeHtml(p.state)}">${escapeHtml(p.state === "pending" ? texts.mediaPending : texts.mediaFailed)}</span>`);
    const grid = (items) => (items.length ? `<div class="photo-stage__grid">${items.map(shown).join("")}</div>`
      : "");
    const early = photos.filter((p) => before.has(p.id) || !ticket.timeline);
    const late = photos.filter((p) => !early.includes(p));
    if (!photos.length) return "";
    return `<div class="weui-cells__title">${escapeHtml(texts.photosTitle)}</div><div class="photo-stages" id="photo-stages">`
      + (early.length ? `<div class="photo-stage" data-stage="before"><div class="photo-stage__title">${escapeHtml(texts.before)}</div>${grid(early)}</div>` : "")
      + (late.length ? `<div class="photo-stage" data-stage="after"><div class="photo-stage__title">${escapeHtml(texts.after)}</div>${grid(late)}</div>` : "")
      + "</div>";
  }

  function renderPhotos() {
    const html = photoStages();
    let box = el("photos");
    if (!box) {
      box = document.createElement("div");
      box.id = "photos";
      el("timeline").previousElementSibling.before(box);
    }
    box.innerHTML = html;
  }

  function renderTimeline() {
    el("timeline").innerHTML = ticket.timeline.slice().reverse().map((entry) => {
      const when = formatTime(entry.at);
      const rating = entry.details.rating ? ` ★${entry.details.rating.overall}` : "";
      return `<li><div class="timeline__what">${escapeHtml(texts.actions[entry.action] || entry.action)}${rating}</div>
        ${entry.text ? `<div class="timeline__text">${chartLinksHtml(entry.text, texts.alertChart, escapeHtml)}</div>` : ""}
        <div class="timeline__when">${escapeHtml(when)}</div></li>`;
    }).join("");
  }

  function stars(name, label) {
    return `<div class="stars" data-name="${name}"><span class="stars__label">${escapeHtml(label)}</span>
      ${[1, 2, 3, 4, 5].map((n) => `<button type="button" data-value="${n}" aria-label="${n}">★</button>`).join("")}</div>`;
  }

  // What the reporter has chosen or typed survives the live updates that redraw the actions (a push may land
  // between the stars and the submit button).
  const rating = {};
  const drafts = { comment: "", text: "" };

  function renderActions() {
    const box = el("actions");
    box.querySelectorAll("textarea[name]").forEach((area) => { drafts[area.name] = area.value; });
    const allowed = new Set(ticket.allowed_actions);
    const parts = [];
    if (allowed.has("confirm")) {
      parts.push(`<button class="weui-btn weui-btn_primary" data-do="confirm">${escapeHtml(texts.confirm)}</button>`);
    }
    if (allowed.has("reopen")) {
      parts.push(`<button class="weui-btn weui-btn_default" data-do="reopen">${escapeHtml(texts.reopen)}</button>`);
    }
    if (allowed.has("rate")) {
      parts.push(`<form class="rate-form" id="rate-form"><div class="weui-cells__title">${escapeHtml(texts.rateTitle)}</div>
        ${stars("rating_overall", texts.rateOverall)}${stars("rating_speed", texts.rateSpeed)}
        ${stars("rating_attitude", texts.rateAttitude)}${stars("rating_skill", texts.rateSkill)}
        <textarea class="weui-textarea" name="comment" rows="2" maxlength="1000" placeholder="${escapeHtml(texts.comment)}"></textarea>
        <button class="weui-btn weui-btn_primary" type="submit">${escapeHtml(texts.rateSubmit)}</button></form>`);
    }
    if (ticket.rating) {
      parts.push(`<div class="rated">${escapeHtml(texts.thanks)} ★${ticket.rating.overall}</div>`);
    }
    if (allowed.has("add_info")) {
      parts.push(`<form class="add-info" id="add-info"><textarea class="weui-textarea" name="text" rows="2" maxlength="5000"
        placeholder="${escapeHtml(texts.addInfo)}"></textarea>
        <button class="weui-btn weui-btn_mini weui-btn_default" type="submit">${escapeHtml(texts.send)}</button></form>`);
    }
    if (allowed.has("cancel")) {
      parts.push(`<button class="weui-btn weui-btn_mini weui-btn_warn cancel-btn" data-do="cancel">${escapeHtml(texts.cancel)}</button>`);
    }
    box.innerHTML = parts.join("");
    box.querySelectorAll("textarea[name]").forEach((area) => { area.value = drafts[area.name] || ""; });
    box.querySelectorAll("[data-do]").forEach((button) => button.addEventListener("click", async () => {
      const action = button.dataset.do;
      if (action === "reopen" || action === "cancel") {
        const cancel = action === "cancel";
        const reason = await weuiDialog({
          title: cancel ? texts.cancel : texts.reopen, reason: true, warn: cancel,
          placeholder: cancel ? texts.cancelWhy : texts.reopenWhy, required: texts.needReason,
          ok: cancel ? texts.withdraw : texts.send, cancel: cancel ? texts.keep : texts.dialogCancel,
        });
        if (reason) await act(action, { reason });
      } else {
        await act(action);
      }
    }));
    const showStars = (group) => group.querySelectorAll("button").forEach(
      (x) => x.classList.toggle("on", Number(x.dataset.value) <= (rating[group.dataset.name] || 0)));
    box.querySelectorAll(".stars").forEach((group) => {
      showStars(group);
      group.querySelectorAll("button").forEach((b) => b.addEventListener("click", () => {
        rating[group.dataset.name] = Number(b.dataset.value);
        showStars(group);
      }));
    });
    el("rate-form")?.addEventListener("submit", async (e) => {
      e.preventDefault();
      if (!rating.rating_overall) { fail(texts.rateNeedOverall); return; }
      await act("rate", { ...rating, rating_comment: e.target.comment.value.trim() || null });
    });
    el("add-info")?.addEventListener("submit", async (e) => {
      e.preventDefault();
      const text = e.target.text.value.trim();
      if (!text) { fail(texts.addInfoEmpty); e.target.text.focus(); return; }
      if (await act("add_info", { text })) {
        drafts.text = "";
        const area = el("add-info")?.querySelector("textarea");
        if (area) area.value = "";
      }
    });
  }

  function render() {
    el("status-label").textContent = texts.status[ticket.status] || ticket.status;
    el("status-hint").textContent = texts.hints[ticket.status] || "";
    el("engineer").textContent = ticket.engineer_name || "—";
    renderProgress();
    el("live-note").hidden = FINAL.has(ticket.status);
    renderPhotos();
    renderTimeline();
    renderActions();
  }

  function live(delay = 1000) {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    // The link's key goes as the first message, never in the socket's URL (URLs end up in access logs).
    const socket = new WebSocket(`${scheme}://${location.host}/ws/tickets/${id}`);
    socket.onmessage = () => load();
    socket.onopen = () => {
      if (key) socket.send(JSON.stringify({ type: "auth", k: key }));
      delay = 1000;
      el("live-note").classList.add("on");
    };
    socket.onclose = () => {
      el("live-note").classList.remove("on");
      setTimeout(() => live(Math.min(delay * 2, 30000)), delay);
    };
  }

  // A photo opens full size; any tap closes it.
  root.addEventListener("click", (event) => {
    const thumb = event.target.closest(".thumb[data-full]");
    if (!thumb) return;
    const overlay = document.createElement("div");
    overlay.className = "lightbox";
    overlay.innerHTML = `<img src="${escapeHtml(thumb.dataset.full)}" alt="">`;
    overlay.addEventListener("click", () => overlay.remove());
    document.body.appendChild(overlay);
  });

  load();
  live();
}
