// The service desk console: a live queue over /ws/console, filter tabs, SLA countdowns and new-ticket alerts.
import {
  LiveSocket, ago, api, deviceLabel, enableLightbox, esc, setTexts, shortText, slaBadge, statusBadge, t, tickSla,
} from "./desk_common.js";
import { createDetail } from "./console_detail.js";
import { createBell } from "./console_bell.js";

const TABS = [
  { key: "todo", label: "To handle", statuses: ["submitted", "reopened"] },
  { key: "remote", label: "Remote centre", statuses: ["escalated"] },
  { key: "dispatched", label: "Dispatched", statuses: ["dispatched", "accepted", "on_site"] },
  { key: "resolved", label: "Awaiting confirmation", statuses: ["resolved"] },
  { key: "closed", label: "Closed", statuses: ["closed", "cancelled"] },
];
const ALERT_EVENTS = new Set(["ticket.submitted", "ticket.reopen"]);
const FRESH_MS = 6000;

const tickets = new Map();
const fresh = new Map(); // ticket id -> when it arrived live, to highlight it for a few seconds
let currentTab = "todo";
let closedLoaded = false;
let detail;

function tabOf(status) { return TABS.find((tab) => tab.statuses.includes(status)) || TABS[0]; }

function upsert(ticket) {
  const known = tickets.get(ticket.id);
  // Events can arrive out of order; never replace a newer version with an older one.
  if (known && known.version > ticket.version) return known;
  tickets.set(ticket.id, ticket);
  return ticket;
}

function sortKey(a, b) {
  // Most urgent first, then the one waiting longest.
  if (a.priority !== b.priority) return a.priority - b.priority;
  return a.created_at < b.created_at ? -1 : a.created_at > b.created_at ? 1 : a.id - b.id;
}

function renderTabs() {
  const counts = Object.fromEntries(TABS.map((tab) => [tab.key, 0]));
  for (const ticket of tickets.values()) counts[tabOf(ticket.status).key] += 1;
  document.getElementById("tabs").innerHTML = TABS.map((tab) => `<button type="button" data-tab="${tab.key}" class="qtab${tab.key === currentTab ? " active" : ""}">`
    + `${esc(t(tab.label))}${tab.key === "closed" && !closedLoaded ? "" : ` <span class="qcount">${counts[tab.key]}</span>`}</button>`).join("");
}

function itemHtml(ticket) {
  const selected = detail && detail.currentId() === ticket.id;
  const isFresh = fresh.has(ticket.id) && Date.now() - fresh.get(ticket.id) < FRESH_MS;
  const where = [ticket.hospital_name, ticket.device_department].filter(Boolean).join(" · ");
  return `<li class="q-item p${ticket.priority}${selected ? " selected" : ""}${isFresh ? " fresh" : ""}" data-id="${ticket.id}" data-number="${esc(ticket.number)}" data-status="${esc(ticket.status)}">`
    + `<div class="q-row"><span class="prio prio-${ticket.priority}">P${ticket.priority}</span>`
    + `<span class="mono q-number">${esc(ticket.number)}</span>${statusBadge(ticket.status)}`
    + `<span class="q-age muted small">${esc(ago(ticket.created_at))}</span></div>`
    + `<div class="q-device">${esc(deviceLabel(ticket))}</div>`
    + `<div class="q-where muted small">${esc(where)}</div>`
    + `<div class="q-desc">${esc(shortText(ticket.description))}</div>`
    + `<div class="q-row q-foot">${slaBadge(ticket)}`
    + (ticket.engineer_name ? `<span class="small muted">${esc(t("Engineer"))}：${esc(ticket.engineer_name)}</span>` : "")
    + "</div></li>";
}

function renderQueue() {
  renderTabs();
  const tab = TABS.find((x) => x.key === currentTab);
  const rows = [...tickets.values()].filter((x) => tab.statuses.includes(x.status));
  rows.sort(tab.key === "closed" ? (a, b) => (a.updated_at < b.updated_at ? 1 : -1) : sortKey);
  const queue = document.getElementById("queue");
  if (tab.key === "closed" && !closedLoaded) { queue.innerHTML = `<li class="q-empty">${esc(t("Loading…"))}</li>`; return; }
  queue.innerHTML = rows.length ? rows.map(itemHtml).join("") : `<li class="q-empty">${esc(t("No tickets here."))}</li>`;
}

async function loadOpen() {
  const page = await api("/api/v1/tickets?open=true&limit=500");
  for (const ticket of page.items) upsert(ticket);
  // A ticket closed while we were not listening would otherwise linger in an open tab.
  const openIds = new Set(page.items.map((x) => x.id));
  for (const [id, ticket] of tickets) {
    if (!openIds.has(id) && !["closed", "cancelled"].includes(ticket.status)) tickets.delete(id);
  }
}

async function loadClosed() {
  const page = await api("/api/v1/tickets?status=closed&status=cancelled&limit=100");
  for (const ticket of page.items) upsert(ticket);
  closedLoaded = true;
}

function selectTab(key) {
  currentTab = key;
  renderQueue();
  if (key === "closed" && !closedLoaded) loadClosed().then(renderQueue).catch(() => {});
}

// ---- alerts: a short two-tone chime made with the Web Audio API, and a desktop notification ----
let audio = null;

function armAlerts() {
  const hint = document.getElementById("alert-hint");
  document.addEventListener("click", () => {
    // Browsers only allow sound and the permission prompt after a user gesture.
    if (!audio && window.AudioContext) audio = new AudioContext();
    if (audio && audio.state === "suspended") audio.resume();
    if ("Notification" in window && Notification.permission === "default") Notification.requestPermission();
    if (hint) {
      hint.textContent = t("Alerts on");
      hint.classList.add("armed");
      setTimeout(() => { hint.hidden = true; }, 4000);
    }
  }, { once: true });
}

function chime() {
  if (!audio) return;
  const start = audio.currentTime;
  [880, 1320].forEach((frequency, i) => {
    const osc = audio.createOscillator();
    const gain = audio.createGain();
    osc.type = "sine";
    osc.frequency.value = frequency;
    const at = start + i * 0.16;
    gain.gain.setValueAtTime(0.0001, at);
    gain.gain.exponentialRampToValueAtTime(0.25, at + 0.02);
    gain.gain.exponentialRampToValueAtTime(0.0001, at + 0.15);
    osc.connect(gain).connect(audio.destination);
    osc.start(at);
    osc.stop(at + 0.16);
  });
}

function desktopAlert(ticket) {
  if (!("Notification" in window) || Notification.permission !== "granted") return;
  const note = new Notification(`${t("New repair ticket")} ${ticket.number}`, {
    body: `${deviceLabel(ticket)}\n${shortText(ticket.description).slice(0, 120)}`, tag: `ticket-${ticket.id}`,
  });
  note.onclick = () => { window.focus(); openTicket(ticket.id); note.close(); };
}

// ---- live updates ----
async function onTicketEvent(message) {
  // Answering a pre-check changes the check, not the ticket: the open detail fetches the pre-check again.
  if (message.event === "ticket.precheck_item") detail.refreshPrecheck(message.ticket_id);
  let ticket;
  try { ticket = upsert(await api(`/api/v1/tickets/${message.ticket_id}`)); } catch { return; }
  if (ALERT_EVENTS.has(message.event)) {
    fresh.set(ticket.id, Date.now());
    chime();
    desktopAlert(ticket);
  }
  renderQueue();
  if (detail.currentId() === ticket.id) detail.refresh(ticket);
}

function setLiveState(state) {
  const el = document.getElementById("live");
  el.dataset.state = state;
  el.textContent = t(state === "open" ? "Live" : "Reconnecting…");
}

function openTicket(id) {
  const ticket = tickets.get(id);
  if (ticket && tabOf(ticket.status).key !== currentTab) selectTab(tabOf(ticket.status).key);
  const url = new URL(location.href);
  url.searchParams.set("ticket", String(id));
  history.replaceState(null, "", url);
  detail.open(id).then(() => renderQueue());
  renderQueue();
}

export async function startConsole(config) {
  setTexts(config.texts);
  currentTab = config.role === "service_center" ? "remote" : "todo";
  detail = createDetail({
    container: document.getElementById("detail"), canned: config.canned,
    onTicket: (ticket) => { upsert(ticket); renderQueue(); },
    onOpen: (id) => openTicket(id),
  });
  enableLightbox(document.getElementById("detail"));
  armAlerts();
  document.getElementById("tabs").addEventListener("click", (event) => {
    const button = event.target.closest("[data-tab]");
    if (button) selectTab(button.dataset.tab);
  });
  document.getElementById("queue").addEventListener("click", (event) => {
    const item = event.target.closest(".q-item");
    if (item) openTicket(Number(item.dataset.id));
  });
  const bell = createBell(document.getElementById("bell"), { onOpen: (id) => openTicket(id) });
  renderQueue();
  await loadOpen();
  renderQueue();
  new LiveSocket({
    onState: setLiveState,
    onReconnect: () => {
      loadOpen().then(renderQueue).catch(() => {});
      bell.load();
      detail.refreshPrecheck(detail.currentId()); // a check answered while the socket was down
    },
    onMessage: (message) => {
      if (message.type === "ticket") onTicketEvent(message);
      else if (message.type === "notification") bell.push(message);
    },
  });
  bell.load();
  setInterval(() => {
    tickSla((id) => tickets.get(id));
    document.querySelectorAll(".q-item.fresh").forEach((el) => {
      if (Date.now() - (fresh.get(Number(el.dataset.id)) || 0) > FRESH_MS) el.classList.remove("fresh");
    });
  }, 1000);
  setInterval(renderQueue, 60000); // ages ("3 min ago") move on
  if (config.openTicket) openTicket(config.openTicket);
}
