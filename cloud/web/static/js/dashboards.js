// The dashboards page (ECharts) and its drill-down list: numbers from /api/v1/dashboards, filters kept in the URL,
// every bar, point and number a link to the tickets behind it, refreshed live while the page is visible.
/* global echarts */
import { formatTime } from "/static/js/localtime.js";

const esc = (s) => String(s ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
const COLORS = ["#0e7c66", "#1f5fa8", "#d9480f", "#b7791f", "#7b4fb5", "#2b8a9e", "#c0392b", "#5c940d", "#86639a", "#6b7785"];
const TIER_COLORS = { basic: "#5c940d", remote: "#1f5fa8", on_site: "#d9480f" };
// Query keys that choose what is counted (the filters); the rest say which number was clicked.
const FILTER_KEYS = ["start", "end", "hospital_id", "department_id", "model", "category", "device_id", "group_id", "age_band", "source"];
const DRILL_KEYS = ["measure", "month", "by", "key", "fault_category", "engineer_id"];

const pct = (v) => (v === null || v === undefined ? "—" : `${(v * 100).toFixed(1)}%`);
const num = (v, digits = 2) => (v === null || v === undefined ? "—" : Number(v).toFixed(digits));
const int = (v) => (v === null || v === undefined ? "—" : Number(v).toLocaleString("zh-CN"));

async function getJson(url) {
  const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    const error = new Error(body.message || `${response.status}`);
    error.readable = Boolean(body.message);
    throw error;
  }
  return body;
}

// Previous / next around a label: the profile table and the drill-down list page alike (data-step -1 / 1).
function pagerHtml(t, label, atFirst, atLast) {
  return `<button type="button" class="link" data-step="-1" ${atFirst ? "disabled" : ""}>‹ ${esc(t("Previous"))}</button>`
    + `<span class="muted">${esc(label)}</span>`
    + `<button type="button" class="link" data-step="1" ${atLast ? "disabled" : ""}>${esc(t("Next"))} ›</button>`;
}

function onPagerStep(pager, step) {
  pager.addEventListener("click", (event) => {
    const button = event.target.closest("[data-step]");
    if (button && !button.disabled) step(Number(button.dataset.step));
  });
}

function filtersOnly(params) {
  const out = new URLSearchParams();
  for (const [k, v] of params) if (FILTER_KEYS.includes(k) && v !== "") out.append(k, v);
  return out;
}

function monthsBack(endMonth, count) {
  const [y, m] = endMonth.split("-").map(Number);
  const d = new Date(Date.UTC(y, m - 1 - (count - 1), 1));
  return `${d.getUTCFullYear()}-${String(d.getUTCMonth() + 1).padStart(2, "0")}`;
}

export function startDashboards(cfg) {
  const t = (key) => cfg.texts[key] ?? key;
  const params = new URLSearchParams(cfg.query);
  const form = document.getElementById("dash-filters");
  const errorBox = document.getElementById("dash-error");
  const updated = document.getElementById("dash-updated");
  const live = document.getElementById("dash-live");
  const charts = {};
  let options = cfg.options;
  let seq = 0;
  const TABLE_PAGE = 100;  // rows of the profile table per page
  let tableOffset = 0;
  const tablePager = document.getElementById("profile-pager");

  const el = {
    start: document.getElementById("f-start"), end: document.getElementById("f-end"),
    hospital: document.getElementById("f-hospital"), department: document.getElementById("f-department"),
    category: document.getElementById("f-category"), model: document.getElementById("f-model"),
    age: document.getElementById("f-age"), source: document.getElementById("f-source"),
    trendBy: document.getElementById("trend-by"), tableBy: document.getElementById("table-by"),
  };

  function fillSelect(select, items, value, allText) {
    select.innerHTML = `<option value="">${esc(allText)}</option>`
      + items.map((i) => `<option value="${esc(i.value)}"${String(i.value) === String(value ?? "") ? " selected" : ""}>${esc(i.label)}</option>`).join("");
  }

  function fillFilters() {
    const all = t("All");
    fillSelect(el.hospital, options.hospitals.map((h) => ({ value: h.id, label: h.name })), params.get("hospital_id"), `${t("Hospital")}: ${all}`);
    el.hospital.hidden = cfg.hospitalLocked && options.hospitals.length <= 1;
    fillSelect(el.department, options.departments.map((d) => ({ value: d.id, label: d.name })), params.get("department_id"), `${t("Department")}: ${all}`);
    el.department.disabled = !options.departments.length;
    fillSelect(el.category, options.categories.map((c) => ({ value: c.code, label: c.name })), params.get("category"), `${t("Category")}: ${all}`);
    fillSelect(el.model, options.models.map((m) => ({ value: m, label: m })), params.get("model"), `${t("Model")}: ${all}`);
    fillSelect(el.age, options.age_bands.map((b) => ({ value: b.code, label: b.name })), params.get("age_band"), `${t("Age")}: ${all}`);
    fillSelect(el.source, ["reported", "predictive"].map((s) => ({ value: s, label: t(`desk.source.${s}`) })), params.get("source"), `${t("desk.Source")}: ${all}`);
    el.start.value = params.get("start") || cfg.defaultStart;
    el.end.value = params.get("end") || cfg.defaultEnd;
  }

  function readForm() {
    const next = new URLSearchParams();
    const put = (key, value) => { if (value) next.set(key, value); };
    put("start", el.start.value);
    put("end", el.end.value);
    put("hospital_id", el.hospital.value);
    put("department_id", el.hospital.value ? el.department.value : "");
    put("category", el.category.value);
    put("model", el.model.value);
    put("age_band", el.age.value);
    put("source", el.source.value);
    // Filters the page has no control for (a device, a group from a profile link) stay as they came.
    for (const key of ["device_id", "group_id"]) for (const v of params.getAll(key)) next.append(key, v);
    return next;
  }

  function query(extra = {}) {
    const q = filtersOnly(params);
    if (!q.get("start")) q.set("start", el.start.value || cfg.defaultStart);
    if (!q.get("end")) q.set("end", el.end.value || cfg.defaultEnd);
    for (const [k, v] of Object.entries(extra)) if (v !== undefined && v !== null) q.set(k, v);
    return q.toString();
  }

  // The tickets behind a number: the same filters plus what was clicked.
  function drill(measure, extra = {}) {
    window.location.href = `/dashboards/tickets?${query({ measure, ...extra })}`;
  }

  function showError(message) {
    errorBox.textContent = message || "";
    errorBox.hidden = !message;
  }

  function chart(name) {
    if (!charts[name]) {
      const box = document.querySelector(`[data-chart="${name}"]`);
      charts[name] = echarts.init(box, null, { renderer: "canvas" });
      charts[name].on("click", (p) => { if (p.data && p.data.drill) drill(p.data.drill.measure, p.data.drill.extra); });
    }
    return charts[name];
  }
  window.addEventListener("resize", () => Object.values(charts).forEach((c) => c.resize()));

  const point = (value, measure, extra) => ({ value, drill: { measure, extra } });
  const baseOption = () => ({
    animation: false, color: COLORS, tooltip: { trigger: "axis", confine: true },
    grid: { left: 56, right: 56, top: 40, bottom: 36 }, legend: { top: 0, type: "scroll" },
  });

  function renderKpis(s) {
    const cards = [
      ["Tickets", int(s.tickets), "tickets", `${t("Faults")} ${int(s.faults)}`],
      ["Failure rate", num(s.failure_rate, 3), "faults", t("faults per device-month")],
      ["Repair rate", num(s.repair_rate, 3), "reports", t("reports per device-month")],
      ["MTBF (h)", num(s.mtbf_hours, 0), "faults", `${t("Devices")} ${int(s.devices)}`],
      ["MTTR (h)", num(s.mttr_hours, 1), "repaired", `${t("Downtime (h)")} ${num(s.downtime_hours, 0)}`],
      ["First-time fix", pct(s.ftf_rate), "not_ftf", `${int(s.ftf)} / ${int(s.ftf_base)}`],
      ["First response within SLA", pct(s.fr_sla), "fr_late", `${int(s.fr_met)} / ${int(s.fr_met + s.fr_late)}`],
      ["Resolution within SLA", pct(s.res_sla), "res_late", `${int(s.res_met)} / ${int(s.res_met + s.res_late)}`],
      ["Self-service rate", pct(s.self_service_rate), "basic", `${t("tier.basic")} ${int(s.basic)} / ${int(s.solved)}`],
      ["Predictive precision", pct(s.predictive_precision), "pred_false", `${t("False alarms")} ${int(s.pred_false)}`],
      ["Average rating", num(s.rating, 2), "rated", `${t("Ratings")} ${int(s.rated)}`],
    ];
    document.getElementById("kpis").innerHTML = cards.map(([label, value, measure, sub]) =>
      `<a class="kpi" href="/dashboards/tickets?${esc(query({ measure }))}" data-kpi="${esc(measure)}">`
      + `<span class="kpi-label">${esc(t(label))}</span><strong class="kpi-value">${esc(value)}</strong>`
      + `<span class="kpi-sub">${esc(sub)}</span></a>`).join("");
  }

  function renderTrendCharts(trend) {
    const months = trend.map((m) => m.key);
    const at = (m) => ({ month: m.key });
    chart("sla").setOption({
      ...baseOption(), xAxis: { type: "category", data: months },
      yAxis: { type: "value", min: 0, max: 1, axisLabel: { formatter: (v) => `${Math.round(v * 100)}%` } },
      tooltip: { trigger: "axis", valueFormatter: (v) => pct(v) },
      series: [
        { name: t("First response within SLA"), type: "line", data: trend.map((m) => point(m.fr_sla, "fr_late", at(m))) },
        { name: t("Resolution within SLA"), type: "line", data: trend.map((m) => point(m.res_sla, "res_late", at(m))) },
      ],
    }, true);
    chart("mttr").setOption({
      ...baseOption(), xAxis: { type: "category", data: months },
      yAxis: [{ type: "value", name: `MTTR (${t("hours")})` }, { type: "value", name: `MTBF (${t("hours")})` }],
      tooltip: { trigger: "axis", valueFormatter: (v) => num(v, 1) },
      series: [
        { name: "MTTR", type: "line", data: trend.map((m) => point(m.mttr_hours, "repaired", at(m))) },
        { name: "MTBF", type: "line", yAxisIndex: 1, data: trend.map((m) => point(m.mtbf_hours, "faults", at(m))) },
      ],
    }, true);
    chart("tiers").setOption({
      ...baseOption(), xAxis: { type: "category", data: months },
      yAxis: [{ type: "value" }, { type: "value", min: 0, max: 1, axisLabel: { formatter: (v) => `${Math.round(v * 100)}%` } }],
      series: [
        ...["basic", "remote", "on_site"].map((tier) => ({
          name: t(`tier.${tier}`), type: "bar", stack: "tier", itemStyle: { color: TIER_COLORS[tier] },
          data: trend.map((m) => point(m[tier], tier, at(m))) })),
        { name: t("Self-service rate"), type: "line", yAxisIndex: 1, tooltip: { valueFormatter: (v) => pct(v) },
          data: trend.map((m) => point(m.self_service_rate, "basic", at(m))) },
      ],
    }, true);
    chart("predictive").setOption({
      ...baseOption(), xAxis: { type: "category", data: months },
      yAxis: [{ type: "value" }, { type: "value", min: 0, max: 1, axisLabel: { formatter: (v) => `${Math.round(v * 100)}%` } }],
      series: [
        { name: t("desk.source.reported"), type: "bar", stack: "src", data: trend.map((m) => point(m.reports, "reports", at(m))) },
        { name: t("desk.source.predictive"), type: "bar", stack: "src", data: trend.map((m) => point(m.predictive, "predictive", at(m))) },
        { name: t("Predictive precision"), type: "line", yAxisIndex: 1, tooltip: { valueFormatter: (v) => pct(v) },
          data: trend.map((m) => point(m.predictive_precision, "pred_false", at(m))) },
      ],
    }, true);
  }

  function renderFailure(data, months) {
    const by = data.by;
    chart("failure").setOption({
      ...baseOption(), xAxis: { type: "category", data: months },
      yAxis: { type: "value", name: t("faults per device-month") },
      tooltip: { trigger: "axis", valueFormatter: (v) => num(v, 3) },
      series: data.series.map((s) => ({
        name: s.label, type: "line", symbolSize: 6,
        data: s.points.map((p) => point(p.failure_rate, "faults", { month: p.key, by, key: s.key })) })),
    }, true);
    document.querySelector('[data-chart="failure"]').dataset.series = String(data.series.length);
  }

  function renderRepair(data) {
    const rows = data.rows.filter((r) => r.repair_rate !== null).sort((a, b) => b.repair_rate - a.repair_rate).slice(0, 15).reverse();
    document.getElementById("repair-per").textContent = t(data.by === "department" ? "Department" : "Hospital");
    chart("repair").setOption({
      ...baseOption(), grid: { left: 8, right: 48, top: 16, bottom: 24, containLabel: true }, legend: { show: false },
      tooltip: { trigger: "axis", valueFormatter: (v) => num(v, 3) },
      xAxis: { type: "value", name: t("reports per device-month"), nameLocation: "middle", nameGap: 24 },
      yAxis: { type: "category", data: rows.map((r) => r.label), axisLabel: { width: 160, overflow: "truncate" } },
      series: [{ name: t("Repair rate"), type: "bar", barMaxWidth: 36, itemStyle: { color: "#1f5fa8" },
        data: rows.map((r) => point(r.repair_rate, "reports", { by: data.by, key: r.key ?? "" })) }],
    }, true);
  }

  function renderFaults(data, months) {
    const rows = [...data.rows].sort((a, b) => a.faults - b.faults);
    chart("faults").setOption({
      ...baseOption(), grid: { left: 8, right: 24, top: 32, bottom: 24, containLabel: true },
      xAxis: { type: "value" }, yAxis: { type: "category", data: rows.map((r) => r.label) },
      tooltip: { trigger: "axis", axisPointer: { type: "shadow" } },
      series: [...["basic", "remote", "on_site"].map((tier) => ({
        name: t(`tier.${tier}`), type: "bar", stack: "f", itemStyle: { color: TIER_COLORS[tier] },
        data: rows.map((r) => point(r[tier], "faults", { fault_category: r.code })) })),
      // Faults still being worked on have no tier yet; without this part their bar would be empty.
      { name: t("Still open"), type: "bar", stack: "f", itemStyle: { color: "#9aa5b1" },
        data: rows.map((r) => point(r.faults - r.basic - r.remote - r.on_site, "faults", { fault_category: r.code })) }],
    }, true);
    const codes = [...new Set(data.trend.map((r) => r.code))];
    const labels = Object.fromEntries(data.trend.map((r) => [r.code, r.label]));
    chart("fault-trend").setOption({
      ...baseOption(), xAxis: { type: "category", data: months }, yAxis: { type: "value" },
      series: codes.map((code) => ({
        name: labels[code], type: "bar", stack: "ft",
        data: months.map((month) => {
          const row = data.trend.find((r) => r.code === code && r.month && r.month.slice(0, 7) === month);
          return point(row ? row.faults : 0, "faults", { month, fault_category: code });
        }) })),
    }, true);
  }

  function renderEngineers(data) {
    const rows = data.rows.slice(0, 20);
    chart("engineers").setOption({
      ...baseOption(), xAxis: { type: "category", data: rows.map((r) => r.name), axisLabel: { interval: 0, rotate: rows.length > 10 ? 30 : 0 } },
      yAxis: [{ type: "value", name: t("Tickets") }, { type: "value", name: t("Average rating"), min: 0, max: 5 }],
      series: [
        { name: t("Tickets"), type: "bar", barMaxWidth: 40, data: rows.map((r) => point(r.tickets, "tickets", { engineer_id: r.engineer_id })) },
        { name: t("tier.on_site"), type: "bar", barMaxWidth: 40, data: rows.map((r) => point(r.on_site, "on_site", { engineer_id: r.engineer_id })) },
        { name: t("Average rating"), type: "line", yAxisIndex: 1, data: rows.map((r) => point(r.rating, "rated", { engineer_id: r.engineer_id })) },
      ],
    }, true);
  }

  function renderTable(data) {
    const cell = (value, measure, row) => `<td class="num"><a href="/dashboards/tickets?${esc(query({ measure, by: data.by, key: row.key ?? "" }))}">${esc(value)}</a></td>`;
    const head = [t({ hospital: "Hospital", department: "Department", model: "Model", category: "Category", age_band: "Age", group: "Device group", device: "Device", origin: "desk.Source" }[data.by]),
      t("Tickets"), t("Faults"), t("Devices"), t("Failure rate"), t("Repair rate"), t("MTBF (h)"), t("MTTR (h)"), t("First-time fix"),
      t("First response within SLA"), t("Resolution within SLA"), t("Self-service rate"), t("Predictive precision"), t("Average rating")];
    const body = data.rows.map((r) => `<tr data-key="${esc(r.key ?? "")}"><td>${esc(r.label)}</td>`
      + cell(int(r.tickets), "tickets", r) + cell(int(r.faults), "faults", r) + `<td class="num">${int(r.devices)}</td>`
      + cell(num(r.failure_rate, 3), "faults", r) + cell(num(r.repair_rate, 3), "reports", r)
      + `<td class="num">${num(r.mtbf_hours, 0)}</td>` + cell(num(r.mttr_hours, 1), "repaired", r)
      + cell(pct(r.ftf_rate), "not_ftf", r) + cell(pct(r.fr_sla), "fr_late", r) + cell(pct(r.res_sla), "res_late", r)
      + cell(pct(r.self_service_rate), "basic", r) + cell(pct(r.predictive_precision), "pred_false", r)
      + cell(num(r.rating, 2), "rated", r) + "</tr>");
    document.getElementById("profile-table").innerHTML = `<thead><tr>${head.map((h, i) => `<th class="${i ? "num" : ""}">${esc(h)}</th>`).join("")}</tr></thead>`
      + `<tbody>${body.join("") || `<tr><td colspan="${head.length}" class="muted">${esc(t("No data in this range."))}</td></tr>`}</tbody>`;
    // A large hospital has thousands of devices: the table shows a page, most faults first; the export has all.
    const total = data.total ?? data.rows.length;
    const last = tableOffset + data.rows.length;
    const label = t("Rows {first}–{last} of {total}").replace("{first}", int(tableOffset + 1)).replace("{last}", int(last))
      .replace("{total}", int(total));
    tablePager.innerHTML = total > TABLE_PAGE ? pagerHtml(t, label, tableOffset === 0, last >= total) : "";
  }

  const tableUrl = (q) => `/api/v1/dashboards/breakdown?${q}&by=${el.tableBy.value}&limit=${TABLE_PAGE}&offset=${tableOffset}`;
  let tableSeq = 0;

  // Another page of the table, or another dimension: only the table is asked for again, not the whole dashboard.
  async function loadTable() {
    const mine = ++tableSeq;
    exportLinks();
    try {
      const table = await getJson(tableUrl(query()));
      if (mine === tableSeq) renderTable(table);
    } catch (error) {
      if (mine === tableSeq) showError(error.readable ? error.message : t("Could not load the numbers."));
    }
  }

  function exportLinks() {
    document.getElementById("export-xlsx").href = `/api/v1/dashboards/export.xlsx?${query({ view: "dashboard", by: el.tableBy.value })}`;
    document.getElementById("export-table-csv").href = `/api/v1/dashboards/export.csv?${query({ view: "breakdown", by: el.tableBy.value })}`;
    document.getElementById("export-table-xlsx").href = `/api/v1/dashboards/export.xlsx?${query({ view: "breakdown", by: el.tableBy.value })}`;
    document.getElementById("export-engineers").href = `/api/v1/dashboards/export.csv?${query({ view: "engineers" })}`;
  }

  async function reload() {
    const mine = ++seq;
    const mineTable = ++tableSeq;
    const q = query();
    const oneHospital = params.getAll("hospital_id").length === 1 || (cfg.hospitalLocked && options.hospitals.length === 1);
    exportLinks();
    try {
      const [overview, failure, repair, faults, engineers, table] = await Promise.all([
        getJson(`/api/v1/dashboards/overview?${q}`),
        getJson(`/api/v1/dashboards/breakdown/trend?${q}&by=${el.trendBy.value}&top=8`),
        getJson(`/api/v1/dashboards/breakdown?${q}&by=${oneHospital ? "department" : "hospital"}`),
        getJson(`/api/v1/dashboards/faults?${q}`),
        getJson(`/api/v1/dashboards/engineers?${q}`),
        getJson(tableUrl(q)),
      ]);
      if (mine !== seq) return;
      showError("");
      document.getElementById("dash-body").hidden = false;
      const months = overview.trend.map((m) => m.key);
      renderKpis(overview.summary);
      renderTrendCharts(overview.trend);
      renderFailure(failure, months);
      renderRepair(repair);
      renderFaults(faults, months);
      renderEngineers(engineers);
      if (mineTable === tableSeq) renderTable(table);
      document.body.dataset.loaded = String(mine);
      updated.textContent = `${t("Updated")} ${formatTime(new Date(), { timeZone: overview.filters.time_zone || undefined })}`;
      live.hidden = false;
    } catch (error) {
      if (mine === seq) { showError(error.readable ? error.message : t("Could not load the numbers.")); live.hidden = true; }
    }
  }

  async function onFilterChange(event) {
    tableOffset = 0;
    const next = readForm();
    const hospitalChanged = event && event.target === el.hospital;
    if (hospitalChanged) next.delete("department_id");
    [...params.keys()].forEach((k) => params.delete(k));
    for (const [k, v] of next) params.append(k, v);
    history.replaceState(null, "", `?${params}`);
    if (hospitalChanged) {
      options = await getJson(`/api/v1/dashboards/options?${params.get("hospital_id") ? `hospital_id=${params.get("hospital_id")}` : ""}`).catch(() => options);
      fillFilters();
    }
    reload();
  }

  form.addEventListener("change", onFilterChange);
  form.addEventListener("submit", (e) => { e.preventDefault(); onFilterChange(); });
  form.querySelectorAll("[data-months]").forEach((button) => button.addEventListener("click", () => {
    const end = cfg.defaultEnd;
    el.end.value = end;
    el.start.value = button.dataset.months === "year" ? `${end.slice(0, 4)}-01` : monthsBack(end, Number(button.dataset.months));
    onFilterChange();
  }));
  document.getElementById("f-reset").addEventListener("click", () => {
    for (const select of [el.hospital, el.department, el.category, el.model, el.age, el.source]) select.value = "";
    el.start.value = cfg.defaultStart;
    el.end.value = cfg.defaultEnd;
    onFilterChange({ target: el.hospital });
  });
  el.trendBy.addEventListener("change", reload);
  el.tableBy.addEventListener("change", () => { tableOffset = 0; loadTable(); });
  onPagerStep(tablePager, (step) => { tableOffset = Math.max(0, tableOffset + step * TABLE_PAGE); loadTable(); });

  fillFilters();
  if (cfg.error) { showError(cfg.error); return; }
  reload();
  setInterval(() => { if (document.visibilityState === "visible") reload(); }, cfg.refreshSeconds * 1000);
}

export function startDrill(cfg) {
  const t = (key) => cfg.texts[key] ?? key;
  const params = new URLSearchParams(cfg.query);
  const table = document.getElementById("drill-table");
  const pager = document.getElementById("drill-pager");
  const count = document.getElementById("drill-count");
  const limit = 50;
  let offset = Number(params.get("offset") || 0);
  const back = filtersOnly(params);
  document.getElementById("back-to-dashboards").href = `/dashboards?${back}`;
  const exportQuery = new URLSearchParams(params);
  exportQuery.delete("offset");
  exportQuery.set("view", "tickets");
  document.getElementById("drill-csv").href = `/api/v1/dashboards/export.csv?${exportQuery}`;
  document.getElementById("drill-xlsx").href = `/api/v1/dashboards/export.xlsx?${exportQuery}`;
  if (cfg.error) return;

  async function load() {
    const q = new URLSearchParams();
    for (const [k, v] of params) if (FILTER_KEYS.includes(k) || DRILL_KEYS.includes(k)) q.append(k, v);
    q.set("limit", limit);
    q.set("offset", offset);
    table.innerHTML = `<tbody><tr><td class="muted">${esc(t("Loading…"))}</td></tr></tbody>`;
    let page;
    try {
      page = await getJson(`/api/v1/dashboards/tickets?${q}`);
    } catch (error) {
      const box = document.getElementById("dash-error");
      box.textContent = error.readable ? error.message : t("Could not load the numbers.");
      box.hidden = false;
      table.innerHTML = "";
      return;
    }
    count.textContent = `${int(page.total)}`;
    const head = ["Ticket", "Reported", "Hospital", "Department", "Device", "Status", "Tier", "Fault category", "Engineer", "Repair time (h)", "Rating"];
    const rows = page.items.map((r) => `<tr data-ticket="${r.id}"><td><a class="mono" href="${esc(r.link)}">${esc(r.number)}</a>`
      + `${r.origin === "predictive" ? ` <span class="tag">${esc(t("desk.source.predictive"))}</span>` : ""}</td>`
      + `<td>${esc(formatTime(r.created_at, { timeZone: cfg.timeZone || undefined }))}</td><td>${esc(r.hospital)}</td><td>${esc(r.department)}</td>`
      + `<td>${esc(r.device)} <span class="muted small">${esc(r.model)}</span></td>`
      + `<td><span class="badge st-${esc(r.status)}">${esc(t(r.status))}</span></td>`
      + `<td>${r.tier ? esc(t(`tier.${r.tier}`)) : "—"}</td><td>${esc(r.fault_category || "—")}</td><td>${esc(r.engineer || "—")}</td>`
      + `<td class="num">${num(r.repair_hours, 1)}</td><td class="num">${r.rating ?? "—"}</td></tr>`);
    table.innerHTML = `<thead><tr>${head.map((h) => `<th>${esc(t(h))}</th>`).join("")}</tr></thead>`
      + `<tbody>${rows.join("") || `<tr><td colspan="${head.length}" class="muted">${esc(t("No tickets."))}</td></tr>`}</tbody>`;
    const pages = Math.max(1, Math.ceil(page.total / limit));
    const current = Math.floor(offset / limit) + 1;
    pager.innerHTML = page.total > limit ? pagerHtml(t, `${current} / ${pages}`, current === 1, current === pages) : "";
  }

  onPagerStep(pager, (step) => {
    offset = Math.max(0, offset + step * limit);
    params.set("offset", offset);
    history.replaceState(null, "", `?${params}`);
    load();
  });
  load();
}
