// The bot's admin page: the weekly rates chart (ECharts) and the two ways to answer a group of questions:
// mark the right entry (the bot learns the wordings) or write a new entry from them in one step.
/* global echarts */

const data = JSON.parse(document.getElementById("bot-data").textContent);
const T = data.texts;

function toast(text, kind) {
  const box = document.getElementById("toast");
  box.textContent = text;
  box.className = `toast ${kind}`;
  box.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { box.hidden = true; }, 3500);
}

async function resolve(askId, body) {
  const response = await fetch(`/api/v1/bot/asks/${askId}/resolve`, {
    method: "POST", headers: { "Content-Type": "application/json", "X-Requested-With": "medfix" },
    body: JSON.stringify(body),
  });
  const reply = await response.json().catch(() => ({}));
  if (!response.ok) {
    const detail = (reply.errors || []).map((e) => `${e.field}: ${e.message}`).join("; ");
    throw new Error([reply.detail, detail].filter(Boolean).join(" — ") || `HTTP ${response.status}`);
  }
  return reply;
}

function list(text, sep) {
  return text.split(sep).map((s) => s.trim()).filter(Boolean);
}

function drawChart() {
  const box = document.getElementById("bot-chart");
  if (!box || typeof echarts === "undefined") return;
  const rows = data.rates;
  const chart = echarts.init(box, null, { renderer: "canvas" });
  const line = (name, key) => ({ name, type: "line", smooth: true, connectNulls: true, yAxisIndex: 0,
    data: rows.map((r) => r[key]) });
  chart.setOption({
    tooltip: { trigger: "axis" },
    legend: { top: 0, data: [T.self, T.handover, T.accuracy, T.questions] },
    grid: { left: 48, right: 48, top: 40, bottom: 28 },
    xAxis: { type: "category", data: rows.map((r) => r.week.slice(5)) },
    yAxis: [{ type: "value", min: 0, max: 100, axisLabel: { formatter: "{value}%" } },
      { type: "value", minInterval: 1, splitLine: { show: false } }],
    series: [line(T.self, "self_service"), line(T.handover, "handover"), line(T.accuracy, "accuracy"),
      { name: T.questions, type: "bar", yAxisIndex: 1, data: rows.map((r) => r.asked), barWidth: 14,
        itemStyle: { color: "#d5dde6" }, z: 0 }],
  });
  window.addEventListener("resize", () => chart.resize());
}

function wire(card) {
  const askIds = card.dataset.askIds.split(",").map(Number);
  const mark = card.querySelector(".mark-entry");
  mark.addEventListener("submit", async (event) => {
    event.preventDefault();
    const entryId = Number(mark.entry_id.value);
    if (!entryId) { toast(T.choose, "error"); return; }
    try {
      for (const askId of askIds) await resolve(askId, { entry_id: entryId });
      card.classList.add("done");
      toast(T.saved, "ok");
    } catch (error) { toast(`${T.failed}: ${error.message}`, "error"); }
  });
  const form = card.querySelector(".new-entry");
  card.querySelector(".write-entry").addEventListener("click", () => { form.hidden = !form.hidden; });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const newEntry = { question: form.question.value.trim(), answer: form.answer.value.trim(),
      variants: list(form.variants.value, "\n"), models: list(form.models.value, /[,，]/),
      codes: list(form.codes.value, /[,，]/) };
    try {
      const first = await resolve(askIds[0], { new_entry: newEntry });
      for (const askId of askIds.slice(1)) await resolve(askId, { entry_id: first.resolved_entry_id });
      card.classList.add("done");
      form.hidden = true;
      toast(T.created, "ok");
    } catch (error) { toast(`${T.failed}: ${error.message}`, "error"); }
  });
}

drawChart();
document.querySelectorAll(".bot-group").forEach(wire);
document.querySelector(".bot-group.highlight")?.scrollIntoView({ block: "center" });
