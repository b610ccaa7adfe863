// The console's ticket detail panel: device, reporter, media, a predictive ticket's pre-check, timeline and the
// actions allowed right now.
import {
  actOn, api, confirmDialog, esc, formatTime, isConflict, mediaHtml, metricName, richText, shortText, slaBadge, statusBadge, t,
  timelineHtml,
} from "./desk_common.js";
import { bucketFor } from "./chart.js";
import { answerCheck as saveAnswer, checkMetaHtml, loadPrecheck as fetchPrecheck, outcomeHtml } from "./precheck.js";
import { faultFieldsHtml, faultSummary, installFaultFields, loadFaultChoices, readFaultFields } from "./fault_fields.js";

// What each action asks for; the buttons shown come from the ticket's allowed_actions.
// Replying keeps the ticket where it is; resolving remotely is its own button and asks for a confirmation.
const FORMS = {
  reply: { field: "text", label: "desk.Message to the reporter", required: true, canned: true, primary: true },
  // Resolving remotely also files what the fault was (fault_fields.js).
  answer: { field: "text", label: "Remote answer to the reporter", required: true, canned: true, confirm: true, fault: true },
  dispatch: { field: "text", label: "Message to the engineer (optional)", engineers: true, primary: true },
  reassign: { field: "text", label: "desk.Reason for the change (optional)", engineers: true, exclude: true },
  escalate: { field: "text", label: "Note for the remote centre (optional)" },
  note: { field: "text", label: "Internal note (only staff see it)", required: true },
  add_info: { field: "text", label: "Information to add", required: true },
  confirm: {},
  reopen: { field: "reason", label: "Reopen reason", required: true },
  self_serve: { field: "text", label: "Note (optional)" },
  cancel: { field: "reason", label: "Cancel reason", required: true, danger: true },
};
const ORDER = Object.keys(FORMS);
// On a ticket with the remote service centre the two ways on read as the centre's choice.
const CENTRE_CHOICE = { dispatch: "Dispatch an engineer" };
const LABELS = { answer: "Resolve remotely", reply: "desk.Reply", reassign: "desk.Reassign" };
function actionLabel(ticket, action) {
  if (LABELS[action]) return t(LABELS[action]);
  return t(ticket.status === "escalated" && CENTRE_CHOICE[action] ? CENTRE_CHOICE[action] : action);
}
function tierBadge(tier) {
  return tier ? ` <span class="tstatus ts-tier ts-tier-${esc(tier)}" style="background:#e6f4f0;color:#0e7c66" title="${esc(t("Tier"))}">`
    + `${esc(t(`tier.${tier}`))}</span>` : "";
}

// The bot conversation a ticket was escalated with, and the device's telemetry chart at hand.
function conversationHtml(ticket) {
  if (!ticket.conversation || !ticket.conversation.length) return "";
  const chart = ticket.device_id
    ? ` <a class="small" href="/devices/${ticket.device_id}/chart" target="_blank" rel="noopener" id="d-conv-chart">${esc(t("Device chart"))} ›</a>` : "";
  return `<section class="d-card d-conversation" id="d-conversation"><h3>${esc(t("Bot conversation"))}${chart}</h3>`
    + `<div class="muted small">${esc(t("The bot could not solve it; the reporter asked for the service centre."))}</div>`
    + `<ol class="timeline">${ticket.conversation.map((turn) => `<li class="tl-item conv-${esc(turn.who)}">`
      + `<div class="tl-head"><strong>${esc(t(`conversation.${turn.who}`))}</strong>`
      + (turn.entry_id != null ? ` <span class="muted small">${esc(t("KB entry"))} ${esc(turn.entry_id)}</span>` : "")
      + `<span class="tl-meta muted small">${esc(formatTime(turn.at))}</span></div>`
      + `<div class="tl-text">${richText(turn.text)}</div></li>`).join("")}</ol></section>`;
}

function scoreClass(score) { return score < 60 ? "low" : score < 80 ? "mid" : "high"; }

// The basic/advanced predictor's estimate at submission: '预计需工程师上门 82%' (cloud/profiles/predictor.py).
function onsiteBadge(ticket) {
  if (ticket.onsite_probability == null) return "";
  const percent = Math.round(ticket.onsite_probability * 100);
  const level = ticket.onsite_route === "dispatch" ? "high" : ticket.onsite_route === "remote" ? "low" : "mid";
  return ` <span class="onsite onsite-${level}" id="d-onsite" title="${esc(t("onsite.hint"))}">`
    + `${esc(t("onsite.estimate"))} ${percent}%</span>`;
}

// The route the estimate suggests comes first among the actions, with a line saying why.
function routeFirst(ticket, actions) {
  const first = ticket.onsite_route === "dispatch" ? "dispatch" : ticket.onsite_route === "remote" ? "answer" : null;
  return first && actions.includes(first) ? [first, ...actions.filter((a) => a !== first)] : actions;
}

// ECharts is only needed for predictive tickets: load it the first time one is opened.
let echartsLoading = null;
function loadEcharts() {
  if (window.echarts) return Promise.resolve(window.echarts);
  echartsLoading ||= new Promise((resolve, reject) => {
    const script = Object.assign(document.createElement("script"), { src: "/vendor/echarts/echarts.min.js" });
    script.onload = () => resolve(window.echarts);
    script.onerror = reject;
    document.head.append(script);
  });
  return echartsLoading;
}

// A predictive ticket's alerts with a mini chart of the newest one's metric, linking to the device's chart page.
async function showMetrics(el, deviceId, isCurrent) {
  const alerts = await api(`/api/v1/alerts?device_id=${deviceId}&limit=5`).catch(() => null);
  if (!isCurrent() || !alerts || !alerts.items.length) { el.hidden = true; return; }
  const alert = alerts.items[0];
  el.innerHTML = `<h3>${esc(t("Metrics"))} <a class="small" href="${esc(alert.chart_url)}" target="_blank" rel="noopener" id="d-chart-link">${esc(t("Open chart"))} ›</a></h3>`
    + `<div class="d-mini-chart" id="d-mini-chart" style="height:160px"></div><ul class="recent">`
    + alerts.items.map((a) => `<li data-alert-id="${a.id}"><a href="${esc(a.chart_url)}" target="_blank" rel="noopener" title="${esc(a.metric)}">${esc(metricName(a.metric))}</a>`
      + ` <span class="muted small">${esc(formatTime(a.started_at))} · ${esc(t(`alert.${a.status}`))} · ${a.peak_score.toFixed(2)}</span>`
      + (a.why ? `<div class="small a-why">${esc(a.why)}</div>` : "") + "</li>").join("")
    + "</ul>";
  const start = new Date(new Date(alert.started_at).getTime() - 30 * 60 * 1000);
  const end = new Date(Date.now() + 1000);
  const bucket = bucketFor((end - start) / 1000);
  const [echarts, data] = await Promise.all([loadEcharts(), api(`/api/v1/devices/${deviceId}/readings?metric=`
    + `${encodeURIComponent(alert.metric)}&start=${encodeURIComponent(start.toISOString())}&end=${encodeURIComponent(end.toISOString())}&bucket=${bucket}`)])
    .catch(() => [null, null]);
  const box = el.querySelector("#d-mini-chart");
  if (!isCurrent() || !echarts || !data || !box) return;
  echarts.init(box).setOption({
    animation: false, grid: { left: 44, right: 8, top: 8, bottom: 20 }, tooltip: { trigger: "axis" },
    xAxis: { type: "time", splitLine: { show: false } }, yAxis: { type: "value", scale: true },
    series: [{ type: "line", showSymbol: false, data: data.points.map((p) => [p.at, p.value]), lineStyle: { color: "#0e7c66" },
      markArea: { silent: true, itemStyle: { color: "rgba(192, 57, 43, 0.13)" },
        // a resolved alert ends at its last abnormal reading (readings' time), not when the service resolved it
        data: [[{ xAxis: alert.started_at }, { xAxis: alert.status === "resolved" ? alert.last_abnormal_at : end.toISOString() }]] } }],
  });
}

const PRECHECK_ANSWERS = ["done", "not_applicable"];

// One check of a pre-check: its state, text, who answered it when, the note; buttons while it may be worked on.
function precheckItemHtml(item, editable) {
  const state = item.answer || "open";
  const buttons = editable
    ? `<span class="pc-buttons">${PRECHECK_ANSWERS.map((answer) => {
      const on = item.answer === answer;
      return `<button type="button" class="pc-btn${on ? " on" : ""}" data-pc-answer="${answer}" aria-pressed="${on}">`
        + `${esc(t(`precheck.${answer}`))}</button>`;
    }).join("")}</span>` : "";
  return `<li class="pc-item" data-item-id="${item.id}" data-answer="${esc(item.answer || "")}">`
    + `<div class="pc-row"><span class="pc-state pc-state-${esc(state)}">${esc(t(`precheck.${state}`))}</span>`
    + `<span class="pc-text">${esc(t(item.text))}</span>${buttons}</div>${checkMetaHtml(item)}</li>`;
}

// A predictive ticket's pre-check: progress, the checks, and the outcome once finished.
function precheckHtml(task) {
  const percent = task.total ? Math.round((100 * task.answered) / task.total) : 0;
  const chart = task.chart_url
    ? ` <a class="small" href="${esc(task.chart_url)}" target="_blank" rel="noopener">${esc(t("Alert chart"))} ›</a>` : "";
  return `<h3>${esc(t("Pre-check checklist"))} <span class="pc-progress" id="d-pc-progress">${task.answered}/${task.total}`
    + ` ${esc(t("answered"))}</span>${chart}</h3>`
    + `<div class="pc-bar" aria-hidden="true"><i style="width:${percent}%"></i></div>`
    + `<ol class="pc-list">${task.items.map((item) => precheckItemHtml(item, task.can_work)).join("")}</ol>`
    + `<div class="form-error" id="d-pc-error" hidden></div>${outcomeHtml(task, "d-pc-outcome")}`;
}

export function createDetail({ container, canned, onTicket, onOpen }) {
  let ticket = null;
  let form = null; // { action, ticket: {id, version} } while an action form is open
  let loadSeq = 0;
  let precheck = null; // the open ticket's pre-check as last fetched (a predictive ticket's only)
  let precheckSeq = 0;
  let faultLoading = Promise.resolve(); // the open form's fault fields, while they load

  function headHtml() {
    return `<div class="d-head"><div><h2><span class="mono">${esc(ticket.number)}</span> ${statusBadge(ticket.status)}`
      + ` <span class="prio prio-${ticket.priority}">P${ticket.priority}</span>${tierBadge(ticket.tier)}${onsiteBadge(ticket)}</h2>`
      + `<div class="muted small">${esc(t("Created"))} ${esc(formatTime(ticket.created_at))} · ${esc(t("Urgency"))}：${esc(t(ticket.urgency))}`
      + ` · ${esc(ticket.hospital_name)}</div></div><div class="d-sla">${slaBadge(ticket)}</div></div>`;
  }

  function deviceHtml() {
    const rows = [
      [t("System no."), `<span class="mono strong">${esc(ticket.device_system_number || "—")}</span>`],
      [t("Model"), esc(ticket.device_model || "—")],
      [t("Department"), esc(ticket.device_department || "—")],
      [t("Group"), esc(ticket.group_name || "—")],
      [t("Score"), `<span class="score" id="d-score">…</span>`
        + (ticket.device_id ? ` <a class="small" href="/devices/${ticket.device_id}/profile" target="_blank" rel="noopener" id="d-profile">${esc(t("Maintenance profile"))} ›</a>` : "")],
    ];
    return `<section class="d-card"><h3>${esc(t("Device"))}</h3><dl class="kv">${rows.map(([k, v]) => `<dt>${esc(k)}</dt><dd>${v}</dd>`).join("")}</dl>`
      + `<h4>${esc(t("Recent tickets of this device"))}</h4><ul class="recent" id="d-recent"><li class="muted small">${esc(t("Loading…"))}</li></ul></section>`;
  }

  function reporterHtml() {
    const phone = ticket.reporter_phone
      ? `<a href="tel:${esc(ticket.reporter_phone)}" class="mono">${esc(ticket.reporter_phone)}</a>` : "—";
    return `<section class="d-card"><h3>${esc(t("Reporter"))}</h3><dl class="kv"><dt>${esc(t("Reporter"))}</dt><dd>${esc(ticket.reporter_name || "—")}</dd>`
      + `<dt>${esc(t("Phone"))}</dt><dd>${phone}</dd>`
      + (ticket.engineer_name ? `<dt>${esc(t("Engineer"))}</dt><dd>${esc(ticket.engineer_name)}</dd>` : "")
      + `</dl><h4>${esc(t("desk.The reporter's other tickets"))}</h4><ul class="recent" id="d-reporter-tickets">`
      + `<li class="muted small">${esc(t("Loading…"))}</li></ul></section>`;
  }

  // The description and photos stay in view above the scrolling part, also while an answer is being written.
  function pinnedHtml() {
    const media = mediaHtml(ticket);
    const outcome = [];
    if (ticket.findings) outcome.push(`<dt>${esc(t("Findings"))}</dt><dd>${esc(ticket.findings)}</dd>`);
    for (const [label, value] of faultSummary(ticket)) outcome.push(`<dt>${esc(label)}</dt><dd class="d-fault">${value}</dd>`);
    if (["resolved", "closed"].includes(ticket.status)) {  // the service report PDF (cloud/reports)
      outcome.push(`<dt>${esc(t("Service report"))}</dt><dd><a href="/t/${encodeURIComponent(ticket.number)}/report.pdf" target="_blank" rel="noopener" id="d-report">${esc(t("View PDF"))}</a></dd>`);
    }
    if (ticket.cancel_reason) outcome.push(`<dt>${esc(t("Reason"))}</dt><dd>${esc(ticket.cancel_reason)}</dd>`);
    return `<section class="d-pinned" id="d-pinned"><div class="d-pinned-text"><h3>${esc(t("Description"))}</h3>`
      + `<p class="d-desc">${richText(ticket.description)}</p>`
      + (outcome.length ? `<dl class="kv">${outcome.join("")}</dl>` : "") + "</div>"
      + (media ? `<div class="d-media">${media}</div>` : "") + "</section>";
  }

  function bodyHtml() {
    return `<div class="d-grid">${deviceHtml()}${reporterHtml()}</div>${conversationHtml(ticket)}`
      + (ticket.source === "predictive" && ticket.device_id ? '<section class="d-card" id="d-metrics"></section>' : "")
      + (ticket.source === "predictive" ? '<section class="d-card d-precheck" id="d-precheck" hidden></section>' : "")
      + `<section class="d-card"><h3>${esc(t("Timeline"))}</h3><ol class="timeline">${timelineHtml(ticket.timeline)}</ol></section>`
      + '<section class="d-card" id="d-deliveries" hidden></section>';
  }

  function actionsHtml() {
    const allowed = routeFirst(ticket, ORDER.filter((a) => ticket.allowed_actions.includes(a)));
    if (!allowed.length) return `<div class="muted">${esc(t("No actions available now."))}</div>`;
    const routed = ticket.onsite_route && allowed[0] === (ticket.onsite_route === "dispatch" ? "dispatch" : "answer");
    const hint = routed ? `<div class="d-route small" id="d-route">${esc(t(`onsite.route.${ticket.onsite_route}`))}</div>` : "";
    return `${hint}<div class="d-buttons">${allowed.map((a) => `<button type="button" data-action="${a}" class="btn ${FORMS[a].primary ? "btn-primary" : FORMS[a].danger ? "btn-danger" : "btn-default"}">${esc(actionLabel(ticket, a))}</button>`).join("")}</div>`
      + '<div class="d-form" id="d-form" hidden></div>';
  }

  function render(notice) {
    container.innerHTML = `${headHtml()}<div class="d-notice" id="d-notice"${notice ? "" : " hidden"}>${esc(notice || "")}</div>`
      + '<div class="d-dups" id="d-dups" hidden></div>'
      + `${pinnedHtml()}<div class="d-scroll">${bodyHtml()}</div><div class="d-actions" id="d-actions">${actionsHtml()}</div>`;
    loadDevice();
    loadRelated();
    loadDeliveries();
    showPrecheck();
    loadPrecheck();
    const metrics = container.querySelector("#d-metrics");
    if (metrics) {
      const seq = loadSeq;
      showMetrics(metrics, ticket.device_id, () => seq === loadSeq && container.contains(metrics));
    }
  }

  // The pre-check as last fetched, drawn at once on every redraw; loadPrecheck brings the current one.
  function showPrecheck(error) {
    const box = container.querySelector("#d-precheck");
    if (!box) return;
    if (!precheck || precheck.ticket_id !== ticket.id) { box.hidden = true; return; }
    box.hidden = false;
    box.innerHTML = precheckHtml(precheck);
    if (error) {
      const el = box.querySelector("#d-pc-error");
      el.textContent = error;
      el.hidden = false;
    }
  }

  async function loadPrecheck() {
    if (!ticket || ticket.source !== "predictive") return;
    const seq = ++precheckSeq;
    const id = ticket.id;
    let task;
    try { task = await fetchPrecheck(id); } catch (error) {
      if (seq === precheckSeq && error.status === 404 && ticket.id === id) { precheck = null; showPrecheck(); }
      return; // otherwise keep what is shown; the next change fetches again
    }
    if (seq !== precheckSeq || !ticket || ticket.id !== id) return;
    if (precheck && precheck.ticket_id === id && precheck.version > task.version) return;
    precheck = task;
    showPrecheck();
  }

  // Tick a check done / not applicable; ticking the chosen answer again takes it back.
  async function answerCheck(button) {
    const row = button.closest("[data-item-id]");
    const item = precheck && precheck.items.find((i) => i.id === Number(row.dataset.itemId));
    if (!item) return;
    const answer = item.answer === button.dataset.pcAnswer ? null : button.dataset.pcAnswer;
    container.querySelectorAll("#d-precheck [data-pc-answer]").forEach((b) => { b.disabled = true; });
    const id = ticket.id;
    precheckSeq += 1; // an answer in flight wins over a fetch started before it
    try {
      const task = await saveAnswer(id, item.id, { answer });
      if (ticket.id !== id) return;
      precheck = task;
      showPrecheck();
    } catch (error) {
      if (ticket.id !== id) return;
      showPrecheck((error.body && typeof error.body.detail === "string" && error.body.detail) || t("Could not save"));
      loadPrecheck();
    }
  }

  // Notifications a channel could not deliver (e.g. a WeChat template message) are shown to the desk,
  // so someone can call the person instead; the in-app message was delivered in any case.
  async function loadDeliveries() {
    const seq = loadSeq;
    const box = container.querySelector("#d-deliveries");
    let rows = [];
    try { rows = await api(`/api/v1/tickets/${ticket.id}/deliveries`); } catch { return; }
    if (seq !== loadSeq || !container.contains(box)) return;
    const failed = rows.filter((r) => r.status === "failed" && !/no WeChat binding|no WeChat template/.test(r.error || ""));
    if (!failed.length) return;
    box.hidden = false;
    box.innerHTML = `<h3>${esc(t("Undelivered notifications"))}</h3><ul class="failed-deliveries">`
      + failed.map((r) => `<li><b>${esc(r.recipient)}</b> · ${esc(r.channel)} · ${esc(r.title)}`
        + `<div class="small muted">${esc(r.error || "")} · ${esc(formatTime(r.at))}</div></li>`).join("") + "</ul>";
  }

  async function loadDevice() {
    const seq = loadSeq;
    const score = container.querySelector("#d-score");
    const recent = container.querySelector("#d-recent");
    if (!ticket.device_id) { score.textContent = "—"; recent.innerHTML = `<li class="muted small">${esc(t("No earlier tickets."))}</li>`; return; }
    const [device, history] = await Promise.allSettled([
      api(`/api/v1/devices/${ticket.device_id}`), api(`/api/v1/tickets?device_id=${ticket.device_id}&limit=6`),
    ]);
    if (seq !== loadSeq || !container.contains(score)) return;
    if (device.status === "fulfilled") {
      score.textContent = String(device.value.maintenance_score);
      score.className = `score ${scoreClass(device.value.maintenance_score)}`;
    } else score.textContent = "—";
    const others = history.status === "fulfilled" ? history.value.items.filter((x) => x.id !== ticket.id).slice(0, 5) : [];
    recent.innerHTML = others.length
      ? others.map((x) => `<li><a href="?ticket=${x.id}" data-open="${x.id}" class="mono">${esc(x.number)}</a> ${statusBadge(x.status)}`
        + (x.fault_category_name ? ` <span class="ff-tag">${esc(x.fault_category_name)}</span>` : "")
        + ` <span class="muted small">${esc(formatTime(x.created_at))}</span><div class="small ellipsis">${esc(shortText(x.description))}</div></li>`).join("")
      : `<li class="muted small">${esc(t("No earlier tickets."))}</li>`;
  }

  // The reporter's other tickets, and the other open tickets of the same device with a way to merge them.
  async function loadRelated() {
    const seq = loadSeq;
    const list = container.querySelector("#d-reporter-tickets");
    let related;
    try { related = await api(`/api/v1/tickets/${ticket.id}/related`); } catch { related = { reporter: [], duplicates: [] }; }
    if (seq !== loadSeq || !container.contains(list)) return;
    list.innerHTML = related.reporter.length
      ? related.reporter.map((x) => `<li><a href="?ticket=${x.id}" data-open="${x.id}" class="mono">${esc(x.number)}</a> ${statusBadge(x.status)}`
        + ` <span class="muted small">${esc(formatTime(x.created_at))} · ${esc(x.device_system_number || x.group_name || "")}</span>`
        + `<div class="small ellipsis">${esc(shortText(x.description))}</div></li>`).join("")
      : `<li class="muted small">${esc(t("desk.No other tickets."))}</li>`;
    const box = container.querySelector("#d-dups");
    const open = ["submitted", "escalated", "dispatched", "accepted", "on_site", "reopened"].includes(ticket.status);
    if (!open || !related.duplicates.length) { box.hidden = true; return; }
    box.hidden = false;
    box.innerHTML = `<strong>${esc(t("Possible duplicate"))}</strong> <span>${esc(t("Another open ticket exists for this device."))}</span>`
      + `<ul>${related.duplicates.map((x) => `<li><a href="?ticket=${x.id}" data-open="${x.id}" class="mono">${esc(x.number)}</a> ${statusBadge(x.status)}`
        + ` <span class="muted small">${esc(formatTime(x.created_at))}</span> <span class="ellipsis dup-desc">${esc(shortText(x.description))}</span>`
        + `<button type="button" class="btn btn-default btn-small" data-merge="${x.id}" data-number="${esc(x.number)}" data-created="${esc(x.created_at)}">${esc(t("desk.Merge"))}</button></li>`).join("")}</ul>`;
  }

  async function merge(button) {
    const otherId = Number(button.dataset.merge);
    // The newer goes into the older (the server decides the same way).
    const thisFirst = ticket.created_at < button.dataset.created || (ticket.created_at === button.dataset.created && ticket.id < otherId);
    const [older, newer] = thisFirst ? [ticket.number, button.dataset.number] : [button.dataset.number, ticket.number];
    const sure = await confirmDialog({
      title: t("desk.Merge duplicate tickets?"), ok: t("desk.Merge"), cancel: t("desk.Back"),
      text: t("desk.merge.text").replaceAll("{newer}", newer).replaceAll("{older}", older),
    });
    if (!sure) return;
    button.disabled = true;
    try {
      const result = await api(`/api/v1/tickets/${ticket.id}/merge`, { method: "POST", json: { other_id: otherId } });
      onTicket(result.merged);
      onTicket(result.kept);
      if (result.kept.id === ticket.id) { ticket = result.kept; render(t("desk.Merged.")); } else onOpen(result.kept.id);
    } catch (error) {
      button.disabled = false;
      await load(ticket.id, (error.body && typeof error.body.detail === "string" && error.body.detail) || t("Could not save"));
    }
  }

  async function openForm(action) {
    const spec = FORMS[action];
    form = { action, ticket: { id: ticket.id, version: ticket.version } };
    container.querySelectorAll("[data-action]").forEach((b) => b.classList.toggle("chosen", b.dataset.action === action));
    const box = container.querySelector("#d-form");
    let html = `<form class="action-form" data-form="${action}" novalidate>`;
    if (spec.engineers) html += `<div class="field"><label>${esc(t("Choose an engineer"))}</label><div class="engineers" id="engineers">${esc(t("Loading…"))}</div></div>`;
    if (spec.canned) {
      html += `<div class="field"><label>${esc(t("Canned replies"))}</label><div class="canned">`
        + canned.map((c, i) => `<button type="button" class="chip" data-canned="${i}" title="${esc(c)}">${esc(c)}</button>`).join("") + "</div></div>";
    }
    if (spec.field) {
      html += `<div class="field"><label for="f-text">${esc(t(spec.label))}</label>`
        + `<textarea id="f-text" name="${spec.field}" rows="3"${spec.required ? " required" : ""}></textarea></div>`;
    }
    if (spec.fault) html += `<div class="field muted small" id="f-fault">${esc(t("Loading…"))}</div>`;
    html += '<div class="form-error" hidden></div><div class="form-buttons">'
      + `<button type="submit" class="btn ${spec.danger ? "btn-danger" : "btn-primary"}">${esc(actionLabel(ticket, action))}</button>`
      + `<button type="button" class="btn btn-default" data-close>${esc(t("Close"))}</button></div></form>`;
    box.innerHTML = html;
    box.hidden = false;
    const text = box.querySelector("#f-text");
    if (text) text.focus();
    if (spec.engineers) loadEngineers(box.querySelector("#engineers"), spec.exclude ? ticket.engineer_id : null);
    if (spec.fault) faultLoading = loadFault(box.querySelector("#f-fault"));
  }

  // The fault fields with the suggestion preselected; what the answer says refines it while it is typed.
  async function loadFault(el) {
    const id = ticket.id;
    let choices;
    try { choices = await loadFaultChoices(id); } catch { el.textContent = t("Network error; try again."); return; }
    if (ticket.id !== id) return;
    // A live change may have redrawn the form meanwhile (refresh keeps it): fill the copy on the page.
    const box = container.contains(el) ? el : container.querySelector("#f-fault");
    if (!box || box.querySelector("[data-ff]")) return;
    box.classList.remove("muted", "small");
    box.innerHTML = faultFieldsHtml(choices, { current: ticket.fault_category, prefix: "f-ff" });
  }

  async function loadEngineers(el, exclude) {
    let list;
    try { list = await api(`/api/v1/tickets/${ticket.id}/engineers`); } catch { el.textContent = t("Could not save"); return; }
    list = list.filter((e) => e.id !== exclude); // reassigning: someone else than the engineer on it now
    if (!list.length) { el.innerHTML = `<div class="muted">${esc(t("No engineer is available for this hospital."))}</div>`; return; }
    // The list comes best match first; preselect it.
    el.innerHTML = list.map((e, i) => `<label class="engineer"><input type="radio" name="engineer_id" value="${e.id}"${i === 0 ? " checked" : ""}>`
      + `<span class="strong">${esc(e.name)}</span>`
      + `<span class="tag ${e.matches_category ? "match" : ""}">${esc(t(e.matches_category ? "matches category" : "other category"))}</span>`
      + `<span class="muted small load">${esc(t("open tickets"))} ${e.open_tickets}</span></label>`).join("");
  }

  function closeForm() {
    form = null;
    const box = container.querySelector("#d-form");
    if (box) { box.hidden = true; box.innerHTML = ""; }
    container.querySelectorAll("[data-action]").forEach((b) => b.classList.remove("chosen"));
  }

  async function submitForm(formEl) {
    const action = formEl.dataset.form;
    const spec = FORMS[action];
    const fields = {};
    const errorEl = formEl.querySelector(".form-error");
    if (spec.field) {
      const value = formEl.querySelector("#f-text").value.trim();
      if (spec.required && !value) { errorEl.textContent = t("Required"); errorEl.hidden = false; return; }
      if (value) fields[spec.field] = value;
    }
    if (spec.fault) {
      await faultLoading; // a quick click may come before the choices arrived
      if (!formEl.querySelector("[data-ff]")) { errorEl.textContent = t("Network error; try again."); errorEl.hidden = false; return; }
      const fault = readFaultFields(formEl);
      if (fault.error) { errorEl.textContent = fault.error; errorEl.hidden = false; return; }
      Object.assign(fields, fault.fields);
    }
    if (spec.engineers) {
      const picked = formEl.querySelector("input[name=engineer_id]:checked");
      if (!picked) { errorEl.textContent = t("Choose an engineer"); errorEl.hidden = false; return; }
      fields.engineer_id = Number(picked.value);
    }
    if (spec.confirm) {
      const sure = await confirmDialog({
        title: t("desk.Resolve this ticket remotely?"), ok: t("Resolve remotely"), cancel: t("desk.Back"),
        text: t("desk.confirm.resolve"),
      });
      if (!sure) return;
    }
    const submit = formEl.querySelector("button[type=submit]");
    submit.disabled = true;
    try {
      const updated = await actOn(form.ticket, action, fields);
      form = null;
      ticket = updated;
      onTicket(updated);
      render();
    } catch (error) {
      if (isConflict(error)) {
        // Someone else got there first: show the ticket as it is now and say so plainly.
        form = null;
        await load(ticket.id, t("The ticket was updated by someone else; the latest version is shown."));
        return;
      }
      submit.disabled = false;
      errorEl.textContent = (error.body && error.body.detail) || t("Network error; try again.");
      errorEl.hidden = false;
    }
  }

  async function load(id, notice) {
    const seq = ++loadSeq;
    if (!ticket || ticket.id !== id) {
      container.innerHTML = `<div class="d-empty">${esc(t("Loading…"))}</div>`;
      precheck = null;
    }
    let fetched;
    try { fetched = await api(`/api/v1/tickets/${id}`); } catch {
      if (seq === loadSeq) container.innerHTML = `<div class="d-empty">${esc(t("Network error; try again."))}</div>`;
      return;
    }
    if (seq !== loadSeq) return;
    ticket = fetched;
    form = null;
    onTicket(fetched);
    render(notice);
  }

  container.addEventListener("click", (event) => {
    const check = event.target.closest("[data-pc-answer]");
    if (check) { if (!check.disabled) answerCheck(check); return; }
    const button = event.target.closest("[data-action]");
    if (button) { openForm(button.dataset.action); return; }
    const merging = event.target.closest("[data-merge]");
    if (merging) { if (!merging.disabled) merge(merging); return; }
    if (event.target.closest("[data-close]")) { closeForm(); return; }
    const chip = event.target.closest("[data-canned]");
    if (chip) {
      const text = container.querySelector("#f-text");
      text.value = canned[Number(chip.dataset.canned)];
      text.focus();
      return;
    }
    const link = event.target.closest("[data-open]");
    if (link) { event.preventDefault(); onOpen(Number(link.dataset.open)); }
  });
  installFaultFields(container, { ticketId: () => ticket.id, textSelector: "#f-text" });
  container.addEventListener("submit", (event) => {
    event.preventDefault();
    submitForm(event.target);
  });

  return {
    currentId: () => (ticket ? ticket.id : null),
    open: (id) => load(id),
    // A pre-check answer changes no ticket version, so the ticket.precheck_item push comes here.
    refreshPrecheck(id) { if (ticket && ticket.id === id) loadPrecheck(); },
    // A live change to the open ticket: redraw it, but never throw away a form someone is typing in.
    refresh(updated) {
      if (!ticket || updated.id !== ticket.id || updated.version === ticket.version) return;
      if (!form) { ticket = updated; render(); return; }
      const typed = container.querySelector("#d-form");
      const keep = typed ? typed.innerHTML : "";
      const values = [...container.querySelectorAll("#d-form textarea, #d-form input, #d-form select")].map((el) => [el.value, el.checked]);
      const chosen = form.action;
      ticket = updated;
      render(t("This ticket has just changed."));
      const box = container.querySelector("#d-form");
      if (box && keep) {
        box.innerHTML = keep;
        box.hidden = false;
        [...box.querySelectorAll("textarea, input, select")].forEach((el, i) => {
          if (values[i]) { el.value = values[i][0]; el.checked = values[i][1]; }
        });
        container.querySelectorAll("[data-action]").forEach((b) => b.classList.toggle("chosen", b.dataset.action === chosen));
      } else {
        form = null; // the action is no longer offered
      }
    },
  };
}
