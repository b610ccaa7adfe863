// The device chart page: one metric over a time range (ECharts), the device's alerts marked, refreshed live.
/* global echarts */
import { formatTime } from "./localtime.js";

const REFRESH_MS = 5000; // the ingest publishes no per-reading push, so the page polls
const MAX_POINTS = 1000; // never draw more than this many points for a range
const NICE_BUCKETS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 21600, 43200, 86400];
const SEVERITY_COLOR = { warning: "#b7791f", major: "#d9480f", critical: "#c0392b" };

const esc = (s) => String(s ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);

function formatValue(v) {
  if (v === null || v === undefined) return "—";
  const abs = Math.abs(v);
  return abs !== 0 && (abs < 0.01 || abs >= 1e6) ? v.toExponential(3) : String(Number(v.toFixed(abs < 1 ? 4 : abs < 100 ? 3 : 1)));
}

// Where a resolved alert ends on the chart: its last abnormal reading, in the readings' time. (resolved_at is when
// the service resolved it: for a backlog a gateway delivered late, hours or days after the readings.)
const abnormalUntil = (a) => a.last_abnormal_at;

// The smallest nice bucket that keeps a span under MAX_POINTS points.
export function bucketFor(spanSeconds) {
  const wanted = Math.max(1, Math.ceil(spanSeconds / MAX_POINTS));
  return NICE_BUCKETS.find((b) => b >= wanted) || wanted;
}

// Axis times short enough for a phone, in the hospital's time zone: the time within a day, the date across days
// (never both, never seconds). The span is what the axis shows (the readings' extent, zoomed), not the range asked
// for: a week's range holding an hour of readings labelled every tick with the same date.
function axisTime(value, spanSeconds, timeZone) {
  return spanSeconds > 2 * 86400 ? formatTime(value, { timeZone }).slice(5, 10) : formatTime(value, { timeZone, withDate: false });
}

// How a metric's values read: a switch (1 on, 0 off) as yes or no (an average as the share of time it was yes),
// the instrument's clock (milliseconds since 1970) as a time in the hospital's zone, anything else as a number.
function valueReader(shape, t, timeZone) {
  if (shape === "switch") {
    return (v) => {
      if (v === null || v === undefined) return "—";
      if (v === 0 || v === 1) return v ? t("Yes") : t("No");
      return t("Yes {n}% of the time").replace("{n}", String(Math.round(v * 100)));
    };
  }
  if (shape === "clock") return (v) => (v === null || v === undefined ? "—" : formatTime(v, { timeZone }));
  return formatValue;
}

function bucketLabel(seconds, t) {
  if (seconds % 3600 === 0) return t("{n} h").replace("{n}", seconds / 3600);
  if (seconds % 60 === 0) return t("{n} min").replace("{n}", seconds / 60);
  return t("{n} s").replace("{n}", seconds);
}

async function getJson(url) {
  const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
  if (!response.ok) throw new Error(`${response.status}`);
  return response.json();
}

export function startChart(cfg) {
  const t = (key) => cfg.texts[key] || key;
  const box = document.getElementById("chart");
  const note = document.getElementById("chart-note");
  const title = document.getElementById("chart-title");
  const liveDot = document.getElementById("chart-live");
  const alertTable = document.getElementById("alert-table");
  const units = Object.fromEntries(cfg.metrics.map((m) => [m.name, m.unit]));
  const shapes = Object.fromEntries(cfg.metrics.map((m) => [m.name, m.shape || ""]));
  const readers = Object.fromEntries(cfg.metrics.map((m) => [m.name, valueReader(m.shape, t, cfg.timeZone)]));
  const readValue = (v) => (readers[state.metric] || formatValue)(v);
  const labels = Object.fromEntries(cfg.metrics.map((m) => [m.name, m.label || m.name]));
  const titleOf = (metric) => `${labels[metric] || metric}${units[metric] ? ` (${units[metric]})` : ""}`;
  const chart = echarts.init(box, null, { renderer: "canvas" });
  // extent: first and last reading drawn (ms); zoom: the slider's window over it (percent)
  const state = { metric: cfg.metric, preset: cfg.preset, bucketed: false, seq: 0, alerts: [], extent: [0, 3600e3],
    zoom: [0, 100] };
  const shownSeconds = () => (state.extent[1] - state.extent[0]) / 1000 * (state.zoom[1] - state.zoom[0]) / 100;

  // A phone gets fewer, shorter axis labels and a slider without its overlapping time labels.
  function layout() {
    const narrow = box.clientWidth < 560;
    return {
      grid: narrow ? { left: 8, right: 16, top: 28, bottom: 56, containLabel: true }
        : { left: 64, right: 32, top: 36, bottom: 72 },
      xAxis: { splitNumber: narrow ? 3 : 6,
        axisLabel: { hideOverlap: true, fontSize: narrow ? 11 : 12, formatter: (v) => axisTime(v, shownSeconds(), cfg.timeZone) } },
      yAxis: { axisLabel: { fontSize: narrow ? 11 : 12, formatter: (v) => axisValue(v) },
        nameTextStyle: { align: narrow ? "left" : "center" } },
      dataZoom: [{ type: "inside", filterMode: "none" },
        { type: "slider", height: narrow ? 18 : 22, bottom: narrow ? 10 : 16, filterMode: "none", showDetail: !narrow }],
    };
  }
  window.addEventListener("resize", () => { chart.setOption(layout()); chart.resize(); });
  // Zooming in to an hour of a week turns the axis from dates to times of day.
  chart.on("datazoom", () => {
    const zoom = chart.getOption().dataZoom[0];
    state.zoom = [zoom.start ?? 0, zoom.end ?? 100];
  });

  // The value axis: a switch only at its two states, the clock as times (month-day and time, the axis is narrow).
  function axisValue(v) {
    const shape = shapes[state.metric];
    if (shape === "clock") return formatTime(v, { timeZone: cfg.timeZone }).slice(5);
    if (shape === "switch") return v === 0 || v === 1 ? readValue(v) : "";
    return formatValue(v);
  }
  function valueAxis() {
    return shapes[state.metric] === "switch"
      ? { min: 0, max: 1, interval: 1, scale: false, name: "" }
      : { min: null, max: null, interval: null, scale: true, name: units[state.metric] || "" };
  }

  chart.setOption({
    animation: false,
    // The tooltip's own header: ECharts would print the instant in the browser's zone, not the hospital's.
    tooltip: { trigger: "axis", confine: true, formatter: (params) => {
      const list = (Array.isArray(params) ? params : [params]).filter((p) => Array.isArray(p.value));
      if (!list.length) return "";
      const when = formatTime(list[0].value[0], { timeZone: cfg.timeZone });
      return `<div>${esc(when)}</div>` + list.map((p) => `<div>${p.marker || ""}${esc(p.seriesName)} `
        + `<strong>${esc(readValue(p.value[1]))} ${esc(units[state.metric] || "")}</strong></div>`).join("");
    } },
    xAxis: { type: "time", axisLine: { lineStyle: { color: "#9aa5b1" } }, splitLine: { show: false } },
    yAxis: { type: "value", scale: true, splitLine: { lineStyle: { color: "#eef1f4" } } },
    series: [],
  });
  chart.setOption(layout());

  // [start, end] of the range shown and whether it follows the clock.
  function range() {
    if (state.preset === "custom") {
      const end = cfg.end ? new Date(cfg.end) : new Date();
      return { start: new Date(cfg.start), end, live: !cfg.end };
    }
    const seconds = cfg.presets.find((p) => p.key === state.preset).seconds;
    const end = new Date(Date.now() + 1000); // the newest reading is inside [start, end)
    return { start: new Date(end.getTime() - seconds * 1000), end, live: true };
  }

  // Raw readings while they fit, averaged buckets (with their min-max band) beyond.
  async function loadPoints(r) {
    const base = `/api/v1/devices/${cfg.deviceId}/readings?metric=${encodeURIComponent(state.metric)}`
      + `&start=${encodeURIComponent(r.start.toISOString())}&end=${encodeURIComponent(r.end.toISOString())}`;
    if (!state.bucketed) {
      const raw = await getJson(`${base}&limit=${MAX_POINTS}`);
      if (raw.points.length < MAX_POINTS) return { points: raw.points, bucket: null };
    }
    const bucket = bucketFor((r.end - r.start) / 1000);
    const data = await getJson(`${base}&bucket=${bucket}`);
    return { points: data.points, bucket };
  }

  function alertMarks(points, r) {
    const mine = state.alerts.filter((a) => a.metric === state.metric
      && new Date(a.started_at) < r.end && (a.status !== "resolved" || new Date(abnormalUntil(a)) >= r.start));
    const nearest = (iso) => {
      const at = new Date(iso).getTime();
      let best = null;
      for (const p of points) {
        if (p.value === null) continue;
        if (!best || Math.abs(new Date(p.at) - at) < Math.abs(new Date(best.at) - at)) best = p;
      }
      return best;
    };
    const areas = mine.map((a) => {
      const open = a.status !== "resolved";
      const color = open ? "rgba(192, 57, 43, 0.13)" : "rgba(183, 121, 31, 0.12)";
      const end = open ? new Date(Math.min(Date.now(), r.end.getTime())).toISOString() : abnormalUntil(a);
      // A band too narrow for its name at this range is named by its pin (labels of close alerts overlapped).
      const wide = (new Date(end) - new Date(a.started_at)) >= 0.04 * (r.end - r.start);
      const when = formatTime(a.started_at, { timeZone: cfg.timeZone, withDate: false });
      return [{ name: `${t("Alert")} ${when}`, xAxis: a.started_at, itemStyle: { color },
        label: { show: wide, color: open ? "#c0392b" : "#8a5a12", fontSize: 11, position: "insideTop" } }, { xAxis: end }];
    });
    const pins = mine.map((a) => {
      const near = nearest(a.started_at);
      return near && {
        name: t("Alert"), coord: [near.at, near.max ?? near.value], value: t(`severity.${a.severity}`),
        itemStyle: { color: SEVERITY_COLOR[a.severity] || "#c0392b" }, label: { fontSize: 10, color: "#fff" },
      };
    }).filter(Boolean);
    box.dataset.alerts = String(mine.length);
    return { areas, pins };
  }

  function draw(points, bucket, r) {
    const line = points.filter((p) => p.value !== null).map((p) => [p.at, p.value]);
    state.extent = line.length > 1 ? [new Date(line[0][0]).getTime(), new Date(line[line.length - 1][0]).getTime()]
      : [r.start.getTime(), r.end.getTime()];
    const { areas, pins } = alertMarks(points, r);
    const series = [];
    if (bucket) {
      // The min-max band: a transparent base at min with the span stacked on top.
      series.push({ name: "min", type: "line", data: points.map((p) => [p.at, p.min]), stack: "band", symbol: "none",
        lineStyle: { opacity: 0 }, tooltip: { show: false }, silent: true });
      series.push({ name: t("Range"), type: "line", data: points.map((p) => [p.at, p.max - p.min]), stack: "band",
        symbol: "none", lineStyle: { opacity: 0 }, areaStyle: { color: "rgba(14, 124, 102, 0.14)" },
        tooltip: { show: false }, silent: true });
    }
    series.push({
      name: bucket ? t("Average") : t("Value"), type: "line", data: line, showSymbol: line.length < 60,
      step: shapes[state.metric] === "switch" && !bucket ? "end" : false,
      symbolSize: 4, lineStyle: { width: 1.6, color: "#0e7c66" }, itemStyle: { color: "#0e7c66" },
      markArea: { silent: true, data: areas },
      markPoint: { symbol: "pin", symbolSize: 46, data: pins },
    });
    chart.setOption({ series, yAxis: valueAxis() }, { replaceMerge: ["series"] });
    box.dataset.points = String(line.length);
    const how = bucket ? `${t("Averaged per")} ${bucketLabel(bucket, t)}` : t("Raw readings");
    const count = t("{n} points").replace("{n}", String(line.length));
    note.textContent = line.length
      ? `${how} · ${count} · ${t("Updated")} ${formatTime(new Date(), { timeZone: cfg.timeZone })}`
      : t("No readings in this range.");
    liveDot.hidden = !r.live;
  }

  function renderAlerts() {
    if (!state.alerts.length) {
      alertTable.innerHTML = `<tbody><tr><td class="muted">${esc(t("No alerts for this device."))}</td></tr></tbody>`;
      return;
    }
    const rows = state.alerts.map((a) => {
      const ticket = a.ticket_id && cfg.ticketBase
        ? `<a href="${cfg.ticketBase}${a.ticket_id}">${esc(t("Ticket"))} ${esc(a.ticket_number || `#${a.ticket_id}`)}</a>` : "";
      return `<tr data-alert-id="${a.id}" class="${a.metric === state.metric ? "on" : ""}">`
        + `<td class="a-metric"><a href="#" data-metric="${esc(a.metric)}">${esc(labels[a.metric] || a.metric)}</a></td>`
        + `<td class="a-status"><span class="badge alert-${a.status}">${esc(t(`alert.${a.status}`))}</span> `
        + `<span class="sev sev-${a.severity}">${esc(t(`severity.${a.severity}`))}</span></td>`
        + `<td class="a-time small">${esc(t("Started"))} ${esc(formatTime(a.started_at, { timeZone: cfg.timeZone }))}<br>`
        + `${a.status === "resolved" ? `${esc(t("Ended"))} ${esc(formatTime(abnormalUntil(a), { timeZone: cfg.timeZone }))}` : `<span class="muted">${esc(t("still open"))}</span>`}</td>`
        + (cfg.showScores ? `<td class="a-score num small">${esc(t("Peak score"))} <strong>${a.peak_score.toFixed(2)}</strong></td>` : "")
        + `<td class="a-ticket">${ticket}</td>`
        + "</tr>" + (a.why ? `<tr class="a-why-row" data-why-of="${a.id}"><td colspan="5" class="a-why small">${esc(a.why)}</td></tr>` : "");
    });
    alertTable.innerHTML = `<tbody>${rows.join("")}</tbody>`;
  }

  async function refresh() {
    const seq = ++state.seq;
    const r = range();
    try {
      const [loaded, alerts] = await Promise.all([
        loadPoints(r), getJson(`/api/v1/alerts?device_id=${cfg.deviceId}&limit=100`).catch(() => null),
      ]);
      if (seq !== state.seq) return; // a newer refresh (another metric or range) won
      if (alerts) { state.alerts = alerts.items; renderAlerts(); }
      state.bucketed = loaded.bucket !== null;
      draw(loaded.points, loaded.bucket, r);
    } catch {
      if (seq === state.seq) note.textContent = t("Could not load the readings.");
    }
  }

  function remember() {
    const params = new URLSearchParams({ metric: state.metric });
    if (state.preset === "custom") {
      params.set("start", cfg.start);
      if (cfg.end) params.set("end", cfg.end);
    } else {
      params.set("range", state.preset);
    }
    history.replaceState(null, "", `?${params}`);
  }

  function choose(metric) {
    if (!metric || metric === state.metric) return;
    state.metric = metric;
    state.bucketed = false;
    title.textContent = titleOf(metric);
    document.getElementById("metric-picker").value = metric;
    document.querySelectorAll("#metric-list a").forEach((a) => a.classList.toggle("on", a.dataset.metric === metric));
    chart.dispatchAction({ type: "dataZoom", start: 0, end: 100 });
    remember();
    refresh();
  }

  document.getElementById("metric-picker").addEventListener("change", (e) => choose(e.target.value));
  document.addEventListener("click", (event) => {
    const link = event.target.closest("[data-metric]");
    if (link) { event.preventDefault(); choose(link.dataset.metric); return; }
    const button = event.target.closest("[data-range]");
    if (!button) return;
    state.preset = button.dataset.range;
    state.bucketed = false;
    document.querySelectorAll("[data-range]").forEach((b) => b.classList.toggle("on", b === button));
    chart.dispatchAction({ type: "dataZoom", start: 0, end: 100 });
    remember();
    refresh();
  });

  refresh();
  setInterval(() => {
    if (document.visibilityState === "visible" && range().live) refresh();
  }, REFRESH_MS);
}
