// The device profile's charts (ECharts): faults per month stacked by fault category, the categories' shares.
/* global echarts */

const PALETTE = ["#0e7c66", "#d9480f", "#1f5fa8", "#b7791f", "#7048e8", "#c0392b", "#2b8a3e", "#868e96", "#e64980",
  "#0b7285"];

export function startProfileCharts(cfg) {
  const t = (key) => cfg.texts[key] || key;
  const charts = [];
  const trendBox = document.getElementById("pf-trend");
  if (trendBox) {
    const chart = echarts.init(trendBox, null, { renderer: "canvas" });
    const empty = !cfg.series.length;
    chart.setOption({
      color: PALETTE,
      tooltip: { trigger: "axis", axisPointer: { type: "shadow" } },
      legend: { type: "scroll", bottom: 0 },
      grid: { left: 40, right: 48, top: 24, bottom: 56 },
      xAxis: { type: "category", data: cfg.months },
      yAxis: [{ type: "value", name: t("Faults"), minInterval: 1 },
        { type: "value", name: t("Repair hours (MTTR)"), splitLine: { show: false } }],
      graphic: empty ? [{ type: "text", left: "center", top: "middle",
        style: { text: t("No faults in these twelve months."), fill: "#6b7785", fontSize: 14 } }] : [],
      series: [
        ...cfg.series.map((s) => ({ name: s.label || t("Not categorised"), type: "bar", stack: "faults",
          data: s.data, emphasis: { focus: "series" } })),
        { name: t("Repair hours (MTTR)"), type: "line", yAxisIndex: 1, data: cfg.mttr, connectNulls: true,
          symbolSize: 6, lineStyle: { type: "dashed", color: "#495057" }, itemStyle: { color: "#495057" } },
      ],
    });
    charts.push(chart);
  }
  const mixBox = document.getElementById("pf-mix");
  if (mixBox) {
    const chart = echarts.init(mixBox, null, { renderer: "canvas" });
    chart.setOption({
      color: PALETTE,
      tooltip: { trigger: "item", formatter: "{b}: {c} ({d}%)" },
      series: [{ type: "pie", radius: ["45%", "72%"], center: ["50%", "52%"], avoidLabelOverlap: true,
        label: { formatter: "{b}\n{d}%", fontSize: 11 },
        data: cfg.categories.map((c) => ({ name: c.label || t("Not categorised"), value: c.value })) }],
    });
    charts.push(chart);
  }
  window.addEventListener("resize", () => charts.forEach((c) => c.resize()));
}
