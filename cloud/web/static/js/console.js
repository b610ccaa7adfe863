// The service desk console: an agent inbox over /ws/console. Search, filters and the views (mine, unassigned,
// all) are answered by the server (GET /api/v1/tickets and /tickets/counts) and kept in the URL, so a reload
// shows the same list; live events update the list at once and re-ask the server shortly after.
import {
  LiveSocket, ago, api, deviceLabel, enableLightbox, esc, setTexts, shortText, slaBadge, statusBadge, t, tickSla,
} from "./desk_common.js";
import { createDetail } from "./console_detail.js";
import { createBell } from "./console_bell.js";

// Short labels: the five tabs share the queue's width in every language.
const TABS = [
  { key: "todo", label: "desk.tab.todo", statuses: ["submitted", "reopened"] },
  { key: "remote", label: "desk.tab.remote", statuses: ["escalated"] },
  { key: "dispatched", label: "desk.tab.dispatched", statuses: ["dispatched", "accepted", "on_site"] },
  { key: "resolved", label: "desk.tab.resolved", statuses: ["resolved"] },
  { key: "closed", label: "desk.tab.closed", statuses: ["closed", "cancelled", "merged"] },
];
const VIEWS = [{ key: "mine", label: "desk.Mine" }, { key: "unassigned", label: "desk.Unassigned" }, { key: "all", label: "desk.All" }];
// The filters as they appear in the URL (and in the API's query string, but for tab and view).
const FILTER_KEYS = ["hospital_id", "priority", "assignee", "source", "tier"];
const ALERT_EVENTS = new Set(["ticket.submitted", "ticket.reopen"]);
const FRESH_MS = 6000;
const RELOAD_MS = 1200;

const tickets = new Map();
const fresh = new Map(); // ticket id -> when it arrived live, to highlight it for a few seconds
const state = { q: "", view: "all", tab: "todo", hospital_id: "", priority: "", assignee: "", source: "", tier: "" };
let counts = null;
let loading = false;
let detail;
let me = null;
let reloadTimer = null;
let listSeq = 0;
let searching = false; // a search was just typed: its first answer may move to the tab that holds its tickets

function tabOf(status) { return TABS.find((tab) => tab.statuses.includes(status)) || TABS[0]; }
function currentTab() { return TABS.find((tab) => tab.key === state.tab) || TABS[0]; }

function upsert(ticket) {
  const known = tickets.get(ticket.id);
  // Events can arrive out of order; never replace a newer version with an older one.
  if (known && known.version > ticket.version) return known;
  // A single ticket's fetch carries no duplicate hint; keep the listing's until the next reload.
  if (known && !ticket.possible_duplicates?.length && known.possible_duplicates) ticket.possible_duplicates = known.possible_duplicates;
  tickets.set(ticket.id, ticket);
  return ticket;
}

// Whether a ticket belongs in the list shown: the same rules the server applies, but for the search text.
function matches(ticket) {
  if (!currentTab().statuses.includes(ticket.status)) return false;
  if (state.hospital_id && ticket.hospital_id !== Number(state.hospital_id)) return false;
  if (state.priority && ticket.priority !== Number(state.priority)) return false;
  if (state.assignee && ![ticket.agent_id, ticket.engineer_id].includes(Number(state.assignee))) return false;
  if (state.source && (ticket.source === "predictive") !== (state.source === "predictive")) return false;
  if (state.tier && ticket.tier !== state.tier) return false;
  if (state.view === "mine" && ticket.agent_id !== me && ticket.engineer_id !== me) return false;
  if (state.view === "unassigned" && ticket.agent_id != null) return false;
  return true;
}

function query({ withView = true, withTab = true } = {}) {
  const params = new URLSearchParams();
  if (state.q.trim()) params.set("q", state.q.trim());
  for (const key of FILTER_KEYS) if (state[key]) params.set(key, state[key]);
  if (withView) params.set("view", state.view);
  if (withTab) for (const status of currentTab().statuses) params.append("status", status);
  return params;
}

// The URL keeps what is shown, so a reload (or a shared link) opens the same list.
function reflect() {
  const url = new URL(location.href);
  for (const key of ["q", "view", "tab", ...FILTER_KEYS]) url.searchParams.delete(key);
  if (state.q.trim()) url.searchParams.set("q", state.q.trim());
  if (state.view !== "all") url.searchParams.set("view", state.view);
  url.searchParams.set("tab", state.tab);
  for (const key of FILTER_KEYS) if (state[key]) url.searchParams.set(key, state[key]);
  history.replaceState(null, "", url);
}

function readUrl(defaultTab) {
  const params = new URLSearchParams(location.search);
  state.q = params.get("q") || "";
  state.view = VIEWS.some((v) => v.key === params.get("view")) ? params.get("view") : "all";
  state.tab = TABS.some((tab) => tab.key === params.get("tab")) ? params.get("tab") : defaultTab;
  for (const key of FILTER_KEYS) state[key] = params.get(key) || "";
}

function sortKey(a, b) {
  // Most urgent first, then the one waiting longest.
  if (a.priority !== b.priority) return a.priority - b.priority;
  return a.created_at < b.created_at ? -1 : a.created_at > b.created_at ? 1 : a.id - b.id;
}

// A view counts the tickets still to work on; the tabs also count those awaiting the reporter and those ended.
const VIEW_COUNT_HINT = "desk.Tickets in hand (not awaiting confirmation or ended)";

function renderViews() {
  document.getElementById("views").innerHTML = VIEWS.map((view) => `<button type="button" data-view="${view.key}" class="qview${view.key === state.view ? " active" : ""}" aria-pressed="${view.key === state.view}">`
    + `${esc(t(view.label))}${counts ? ` <span class="qcount" title="${esc(t(VIEW_COUNT_HINT))}">${counts.views[view.key]}</span>` : ""}</button>`).join("");
  const active = FILTER_KEYS.filter((key) => state[key]).length;
  const toggle = document.getElementById("filters-toggle");
  toggle.querySelector(".qcount").hidden = !active;
  toggle.querySelector(".qcount").textContent = String(active);
  document.getElementById("filters-clear").hidden = !active;
}

function renderTabs() {
  document.getElementById("tabs").innerHTML = TABS.map((tab) => {
    const n = counts ? tab.statuses.reduce((sum, status) => sum + (counts.statuses[status] || 0), 0) : null;
    return `<button type="button" data-tab="${tab.key}" class="qtab${tab.key === state.tab ? " active" : ""}">`
      + `${esc(t(tab.label))}${n === null ? "" : ` <span class="qcount">${n}</span>`}</button>`;
  }).join("");
}

function itemHtml(ticket) {
  const selected = detail && detail.currentId() === ticket.id;
  const isFresh = fresh.has(ticket.id) && Date.now() - fresh.get(ticket.id) < FRESH_MS;
  const where = [ticket.hospital_name, ticket.device_department].filter(Boolean).join(" · ");
  const twin = ticket.possible_duplicates && ticket.possible_duplicates.length
    ? `<span class="dup-badge" title="${esc(t("Another open ticket exists for this device."))}">${esc(t("Possible duplicate"))}</span>` : "";
  return `<li class="q-item p${ticket.priority}${selected ? " selected" : ""}${isFresh ? " fresh" : ""}" data-id="${ticket.id}" data-number="${esc(ticket.number)}" data-status="${esc(ticket.status)}">`
    + `<div class="q-row"><span class="prio prio-${ticket.priority}">P${ticket.priority}</span>`
    + `<span class="mono q-number">${esc(ticket.number)}</span>${statusBadge(ticket.status)}${twin}`
    + `<span class="q-age muted small">${esc(ago(ticket.created_at))}</span></div>`
    + `<div class="q-device">${esc(deviceLabel(ticket))}</div>`
    + `<div class="q-where muted small">${esc(where)}${ticket.reporter_name ? ` · ${esc(ticket.reporter_name)}` : ""}</div>`
    + `<div class="q-desc">${esc(shortText(ticket.description))}</div>`
    + `<div class="q-row q-foot">${slaBadge(ticket)}`
    + (ticket.engineer_name ? `<span class="small muted">${esc(t("Engineer"))}：${esc(ticket.engineer_name)}</span>` : "")
    + "</div></li>";
}

// The export links hold the same query as the list: the file is what the search, filters, view and tab show.
function renderExportLinks() {
  for (const link of document.querySelectorAll(".q-export [data-export]")) {
    link.href = `/console/export.${link.dataset.export}?${query()}`;
  }
}

function renderQueue() {
  renderViews();
  renderTabs();
  renderExportLinks();
  const tab = currentTab();
  const rows = [...tickets.values()].filter(matches);
  rows.sort(tab.key === "closed" ? (a, b) => (a.updated_at < b.updated_at ? 1 : -1) : sortKey);
  const queue = document.getElementById("queue");
  if (loading && !rows.length) { queue.innerHTML = `<li class="q-empty">${esc(t("Loading…"))}</li>`; return; }
  const filtered = state.q.trim() || FILTER_KEYS.some((key) => state[key]);
  queue.innerHTML = rows.length ? rows.map(itemHtml).join("")
    : `<li class="q-empty">${esc(t(filtered ? "No tickets match the search and filters." : "No tickets here."))}</li>`;
}

// The list and its counts from the server, for what the search, filters, view and tab say now.
async function loadList() {
  const seq = ++listSeq;
  const [page, numbers] = await Promise.all([
    api(`/api/v1/tickets?${query()}&limit=200`), api(`/api/v1/tickets/counts?${query({ withTab: false })}`),
  ]);
  if (seq !== listSeq) return; // a newer search is on its way
  tickets.clear();
  for (const ticket of page.items) tickets.set(ticket.id, ticket);
  counts = numbers;
  loading = false;
  // A search whose tickets are all under another tab goes there: "WO-000171" typed on 待处理 said nothing matched
  // while the tab bar counted it under 已派工.
  if (searching && !page.items.length) {
    const found = TABS.find((tab) => tab.statuses.some((status) => counts.statuses[status]));
    if (found && found.key !== state.tab) { searching = false; state.tab = found.key; changed(); return; }
  }
  searching = false;
  renderQueue();
}

function reload() {
  clearTimeout(reloadTimer);
  reloadTimer = null;
  loadList().catch(() => {});
}

// Many events in a burst answer with one reload.
function reloadSoon() {
  if (!reloadTimer) reloadTimer = setTimeout(reload, RELOAD_MS);
}

function changed() {
  reflect();
  loading = true;
  tickets.clear();
  renderQueue();
  reload();
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
  try { ticket = await api(`/api/v1/tickets/${message.ticket_id}`); } catch { return; }
  // At once where we can tell it belongs to the list; a search text waits for the server's answer.
  if (tickets.has(ticket.id) || (!state.q.trim() && matches(ticket))) upsert(ticket);
  if (ALERT_EVENTS.has(message.event)) {
    fresh.set(ticket.id, Date.now());
    chime();
    desktopAlert(ticket);
  }
  renderQueue();
  reloadSoon();
  if (detail.currentId() === ticket.id) detail.refresh(ticket);
}

function setLiveState(state_) {
  const el = document.getElementById("live");
  el.dataset.state = state_;
  el.textContent = t(state_ === "open" ? "Live" : "Reconnecting…");
}

function openTicket(id, { switchTab = true } = {}) {
  const ticket = tickets.get(id);
  if (switchTab && ticket && !currentTab().statuses.includes(ticket.status)) {
    state.tab = tabOf(ticket.status).key;
    changed();
  }
  const url = new URL(location.href);
  url.searchParams.set("ticket", String(id));
  history.replaceState(null, "", url);
  detail.open(id).then(() => renderQueue());
  bell.readTicket(id);
  renderQueue();
}

let bell;

function fillSelect(id, options, value) {
  const select = document.getElementById(id);
  select.innerHTML = options.map(([v, label]) => `<option value="${esc(v)}"${String(v) === String(value) ? " selected" : ""}>${esc(label)}</option>`).join("");
}

function setupFilters(config) {
  const any = t("desk.Any");
  fillSelect("f-hospital", [["", `${t("Hospital")}：${any}`], ...config.hospitals.map((h) => [h.id, h.name])], state.hospital_id);
  fillSelect("f-priority", [["", `${t("Priority")}：${any}`], ...[1, 2, 3, 4].map((p) => [p, `P${p}`])], state.priority);
  fillSelect("f-assignee", [["", `${t("desk.Assignee")}：${any}`], ...config.assignees.map((u) => [u.id, `${u.name}（${t(`role.${u.role}`)}）`])], state.assignee);
  fillSelect("f-source", [["", `${t("desk.Source")}：${any}`], ["reported", t("desk.source.reported")], ["predictive", t("desk.source.predictive")]], state.source);
  fillSelect("f-tier", [["", `${t("Tier")}：${any}`], ...["basic", "remote", "on_site"].map((tier) => [tier, t(`tier.${tier}`)])], state.tier);
  const panel = document.getElementById("filters");
  panel.hidden = !FILTER_KEYS.some((key) => state[key]);
  const map = { "f-hospital": "hospital_id", "f-priority": "priority", "f-assignee": "assignee", "f-source": "source", "f-tier": "tier" };
  panel.addEventListener("change", (event) => {
    const key = map[event.target.id];
    if (!key) return;
    state[key] = event.target.value;
    changed();
  });
  document.getElementById("filters-clear").addEventListener("click", () => {
    for (const key of FILTER_KEYS) state[key] = "";
    for (const id of Object.keys(map)) document.getElementById(id).value = "";
    changed();
  });
  document.getElementById("filters-toggle").addEventListener("click", () => { panel.hidden = !panel.hidden; });
  const box = document.getElementById("q");
  box.value = state.q;
  let typing = null;
  box.addEventListener("input", () => {
    clearTimeout(typing);
    typing = setTimeout(() => {
      if (state.q !== box.value) { state.q = box.value; searching = Boolean(state.q.trim()); changed(); }
    }, 300);
  });
  document.getElementById("search").addEventListener("submit", (event) => {
    event.preventDefault();
    clearTimeout(typing);
    state.q = box.value;
    searching = Boolean(state.q.trim());
    changed();
  });
}

export async function startConsole(config) {
  setTexts(config.texts);
  me = config.userId;
  readUrl(config.role === "service_center" ? "remote" : "todo");
  detail = createDetail({
    container: document.getElementById("detail"), canned: config.canned,
    onTicket: (ticket) => { if (tickets.has(ticket.id) || matches(ticket)) upsert(ticket); renderQueue(); reloadSoon(); },
    onOpen: (id) => openTicket(id),
  });
  enableLightbox(document.getElementById("detail"));
  armAlerts();
  setupFilters(config);
  document.getElementById("views").addEventListener("click", (event) => {
    const button = event.target.closest("[data-view]");
    if (button && button.dataset.view !== state.view) { state.view = button.dataset.view; changed(); }
  });
  document.getElementById("tabs").addEventListener("click", (event) => {
    const button = event.target.closest("[data-tab]");
    if (button && button.dataset.tab !== state.tab) { state.tab = button.dataset.tab; changed(); }
  });
  document.getElementById("queue").addEventListener("click", (event) => {
    const item = event.target.closest(".q-item");
    if (item) openTicket(Number(item.dataset.id), { switchTab: false });
  });
  bell = createBell(document.getElementById("bell"), { onOpen: (id) => openTicket(id) });
  loading = true;
  reflect();
  renderQueue();
  await loadList().catch(() => {});
  new LiveSocket({
    onState: setLiveState,
    onReconnect: () => {
      reload();
      bell.load();
      detail.refreshPrecheck(detail.currentId()); // a check answered while the socket was down
    },
    onMessage: (message) => {
      if (message.type === "ticket") onTicketEvent(message);
      else if (message.type === "notification") bell.push(message);
    },
  });
  bell.load().then(() => { if (detail.currentId()) bell.readTicket(detail.currentId()); });
  setInterval(() => {
    tickSla((id) => tickets.get(id));
    document.querySelectorAll(".q-item.fresh").forEach((el) => {
      if (Date.now() - (fresh.get(Number(el.dataset.id)) || 0) > FRESH_MS) el.classList.remove("fresh");
    });
  }, 1000);
  setInterval(renderQueue, 60000); // ages ("3 min ago") move on
  if (config.openTicket) openTicket(config.openTicket, { switchTab: false });
}
