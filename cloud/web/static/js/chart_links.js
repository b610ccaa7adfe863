// Device chart links inside a ticket's text (a predictive ticket's description and notes), with the label written
// before it ("告警曲线：" / "曲线："). Only these same-site links become links; any other text stays text. Pages the
// server renders shorten them with the same pattern (cloud/web/ticket_text.py).
const CHART_LINK = /(?:告警)?(?:曲线|Chart)[:：]\s*(\/devices\/\d+\/chart\?[^\s，。；、）),"'<>]*)|(\/devices\/\d+\/chart\?[^\s，。；、）),"'<>]*)/g;

// Escaped text (escape: the page's HTML escaper) with every chart link shown as a short "label ›" link.
export function chartLinksHtml(text, label, escape) {
  const value = String(text ?? "");
  let html = "";
  let last = 0;
  for (const match of value.matchAll(CHART_LINK)) {
    const url = match[1] || match[2];
    html += escape(value.slice(last, match.index))
      + `<a class="chart-link" href="${escape(url)}" target="_blank" rel="noopener">${escape(label)} ›</a>`;
    last = match.index + match[0].length;
  }
  return html + escape(value.slice(last));
}

// The same text for one-line previews: a chart link shrinks to its label.
export function withoutChartLinks(text, label) {
  return String(text ?? "").replace(CHART_LINK, () => label);
}
