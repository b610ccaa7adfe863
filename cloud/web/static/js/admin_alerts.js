// Alert policies and maintenance windows: "Edit" opens the row's form in a full-width row below it.
document.querySelectorAll("button[data-toggle]").forEach((button) => {
  button.addEventListener("click", () => {
    const row = document.getElementById(button.dataset.toggle);
    row.hidden = !row.hidden;
    if (!row.hidden) row.querySelector("input, select")?.focus();
  });
});
