// Batch label printing from the admin lists: any selection of devices or groups, as one PDF.

function selected(kind) {
  return [...document.querySelectorAll(`input.pick[data-kind=${kind}]:checked`)].map((box) => Number(box.value));
}

function refresh(bar) {
  const count = selected("device").length + selected("group").length;
  bar.querySelector(".pick-count").textContent = String(count);
  bar.querySelector("button.print").disabled = count === 0;
}

export function enableLabelPrinting(texts) {
  const bar = document.getElementById("label-bar");
  if (!bar) return;
  document.querySelectorAll("input.pick").forEach((box) => box.addEventListener("change", () => refresh(bar)));
  document.getElementById("pick-all")?.addEventListener("change", (event) => {
    document.querySelectorAll("input.pick[data-kind=device]").forEach((box) => { box.checked = event.target.checked; });
    refresh(bar);
  });
  bar.querySelector("button.print").addEventListener("click", async () => {
    const button = bar.querySelector("button.print");
    button.disabled = true;
    button.textContent = texts.working;
    try {
      const response = await fetch("/api/v1/labels", {
        method: "POST",
        headers: { "Content-Type": "application/json", "X-Requested-With": "medfix" },
        body: JSON.stringify({
          template: bar.querySelector("select[name=template]").value,
          outline: bar.querySelector("input[name=outline]").checked,
          devices: selected("device"),
          groups: selected("group"),
        }),
      });
      if (!response.ok) {
        const data = await response.json().catch(() => ({}));
        throw new Error(data.detail || `HTTP ${response.status}`);
      }
      const url = URL.createObjectURL(await response.blob());
      const link = document.createElement("a");
      link.href = url;
      link.download = `medfix-labels-${new Date().toISOString().slice(0, 10)}.pdf`;
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(url), 60000);
    } catch (error) {
      window.alert(`${texts.failed}: ${error.message}`);
    } finally {
      button.textContent = texts.print;
      refresh(bar);
    }
  });
  refresh(bar);
}
