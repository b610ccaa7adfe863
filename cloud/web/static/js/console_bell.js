// The console's notification bell: unread notifications, live additions; the count goes down as they are read
// (opened from the list, "mark all read", or by opening their ticket in the console any other way).
import { ago, api, esc, t } from "./desk_common.js";

function ticketIdOf(link) {
  // Notification links for the desk look like /console?ticket=ID.
  const match = /[?&]ticket=(\d+)/.exec(link || "");
  return match ? Number(match[1]) : null;
}

// A closing message carries its service report's address (cloud/notify/messages.py): it reads as a short link.
const REPORT_LINK = /(?:https?:\/\/[^\s/]+)?\/t\/[A-Za-z0-9-]+\/report\.pdf/g;

function bodyHtml(body) {
  const text = String(body ?? "");
  let html = "";
  let last = 0;
  for (const match of text.matchAll(REPORT_LINK)) {
    html += esc(text.slice(last, match.index))
      + `<a class="bell-report" href="${esc(match[0])}" target="_blank" rel="noopener">${esc(t("View PDF"))} ›</a>`;
    last = match.index + match[0].length;
  }
  return html + esc(text.slice(last));
}

export function createBell(root, { onOpen }) {
  let items = [];
  root.innerHTML = `<button type="button" class="bell-btn" aria-label="${esc(t("Notifications"))}">`
    + '<svg viewBox="0 0 24 24" width="18" height="18" aria-hidden="true"><path fill="currentColor" d="M12 22a2.5 2.5 0 0 0 2.45-2h-4.9A2.5 2.5 0 0 0 12 22Zm7-6V11a7 7 0 0 0-5.5-6.84V3.5a1.5 1.5 0 0 0-3 0v.66A7 7 0 0 0 5 11v5l-2 2v1h18v-1l-2-2Z"/></svg>'
    + '<span class="bell-count" hidden></span></button>'
    + `<div class="bell-panel" hidden><div class="bell-head"><strong>${esc(t("Notifications"))}</strong>`
    + `<button type="button" class="link bell-clear">${esc(t("Mark all read"))}</button></div><ul class="bell-list"></ul></div>`;
  const count = root.querySelector(".bell-count");
  const panel = root.querySelector(".bell-panel");
  const list = root.querySelector(".bell-list");

  function render() {
    count.hidden = items.length === 0;
    count.textContent = items.length > 99 ? "99+" : String(items.length);
    list.innerHTML = items.length
      ? items.map((n) => `<li data-id="${n.id}" data-link="${esc(n.link)}"><div class="strong">${esc(n.title)}</div>`
        + `<div class="small">${bodyHtml(n.body)}</div><div class="muted small">${esc(ago(n.created_at))}</div></li>`).join("")
      : `<li class="muted">${esc(t("No new notifications."))}</li>`;
  }

  async function markRead(ids) {
    if (!ids.length) return;
    items = items.filter((n) => !ids.includes(n.id));
    render();
    // The API takes up to 500 ids at a time.
    for (let i = 0; i < ids.length; i += 500) {
      try { await api("/api/v1/notifications/read", { method: "POST", json: { ids: ids.slice(i, i + 500) } }); } catch { /* shown again on next load */ }
    }
  }

  function ticketOf(n) { return n.ticket_id ?? ticketIdOf(n.link); }

  root.querySelector(".bell-btn").addEventListener("click", (event) => {
    event.stopPropagation();
    panel.hidden = !panel.hidden;
  });
  root.querySelector(".bell-clear").addEventListener("click", () => markRead(items.map((n) => n.id)));
  list.addEventListener("click", (event) => {
    const li = event.target.closest("li[data-id]");
    if (!li) return;
    markRead([Number(li.dataset.id)]);
    if (event.target.closest("a.bell-report")) return;  // the report opens in its own tab; the list stays
    panel.hidden = true;
    const id = ticketIdOf(li.dataset.link);
    if (id && li.dataset.link.startsWith("/console")) onOpen(id);
    else if (li.dataset.link) window.location.href = li.dataset.link;
  });
  document.addEventListener("click", (event) => { if (!root.contains(event.target)) panel.hidden = true; });

  return {
    async load() {
      try { items = await api("/api/v1/notifications"); } catch { return; }
      render();
    },
    // Opening a ticket reads its notifications: the count goes down without a trip through the bell.
    readTicket(ticketId) {
      markRead(items.filter((n) => ticketOf(n) === ticketId).map((n) => n.id));
    },
    push(message) {
      if (items.some((n) => n.id === message.id)) return;
      items.unshift({ ...message, created_at: new Date().toISOString() });
      render();
    },
  };
}
