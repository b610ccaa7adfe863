"""The dashboards in a real browser on the demo's year of history: filters, a card and a chart bar drilled down to
the tickets behind them, an impossible filter explained, and the navigation that leads there."""

from __future__ import annotations

import re

import pytest

from tests.e2e.conftest import LiveServer, page_errors, screenshot, sign_in

pytestmark = pytest.mark.browser


def _loaded(page, after: int = 0) -> int:  # noqa: ANN001
    """Wait until the page has drawn its numbers (a newer load than `after`), and return that load's number."""
    page.wait_for_function(f"Number(document.body.dataset.loaded || 0) > {after}", timeout=30_000)
    return int(page.evaluate("document.body.dataset.loaded"))


def _listed(page) -> None:  # noqa: ANN001
    """Wait until the drill-down list shows its tickets and their count."""
    page.wait_for_function("document.getElementById('drill-count').textContent.trim() !== ''", timeout=30_000)


def _kpi(page, measure: str) -> int:  # noqa: ANN001
    text = page.locator(f'[data-kpi="{measure}"] .kpi-value').inner_text()
    return int(re.sub(r"[^\d]", "", text))


def _bar_pixel(page, chart: str, series: int) -> dict[str, float] | None:  # noqa: ANN001
    """The centre of the newest non-empty bar of a series in a chart, from ECharts' own coordinate system."""
    return page.evaluate("""([name, series]) => {
        const chart = echarts.getInstanceByDom(document.querySelector(`[data-chart="${name}"]`));
        const option = chart.getOption();
        const data = option.series[series].data;
        for (let i = data.length - 1; i >= 0; i--) {
          const value = data[i] && data[i].value;
          if (value) {
            // A stacked bar starts where the bars below it end.
            const stack = option.series[series].stack;
            const base = option.series.slice(0, series).filter((s) => stack && s.stack === stack)
              .reduce((sum, s) => sum + ((s.data[i] && s.data[i].value) || 0), 0);
            const [x, y] = chart.convertToPixel({ seriesIndex: series }, [i, base + value / 2]);
            const box = chart.getDom().getBoundingClientRect();
            return { x: box.left + x, y: box.top + y, value, month: option.xAxis[0].data[i] };
          }
        }
        return null;
    }""", [chart, series])


def test_the_desk_walks_the_dashboards_with_filters_and_drills_down(demo_server: LiveServer,
                                                                   browser) -> None:  # noqa: ANN001
    context = browser.new_context(viewport={"width": 1440, "height": 900}, locale="zh-CN")
    page = context.new_page()
    errors = page_errors(page)
    sign_in(page, demo_server, "agent", "/console")
    page.click("nav.mainnav >> text=看板")
    page.wait_for_url("**/dashboards")
    load = _loaded(page)
    everything = _kpi(page, "tickets")
    assert everything > 0, "the demo's year of history shows on the dashboards"
    for chart in ("failure", "repair", "sla", "mttr", "tiers", "predictive", "faults", "fault-trend", "engineers"):
        assert page.locator(f'[data-chart="{chart}"] canvas').count() == 1
    assert page.locator("#profile-table tbody tr").count() >= 2  # one row per demo hospital
    assert "故障率" in page.inner_text("#kpis") and "首次修复率" in page.inner_text("#kpis")
    page.evaluate("window.scrollTo(0, 0)")
    screenshot(page, "dashboards-all")

    # One hospital: its departments become choosable, the numbers shrink, the URL keeps the filter.
    first_hospital = page.locator("#f-hospital option").nth(1)
    hospital_id, hospital_name = first_hospital.get_attribute("value"), first_hospital.inner_text()
    page.select_option("#f-hospital", hospital_id)
    load = _loaded(page, load)
    assert f"hospital_id={hospital_id}" in page.url
    one = _kpi(page, "tickets")
    assert 0 < one <= everything
    assert page.locator("#f-department").is_enabled()
    assert page.locator("#repair-per").inner_text() == "科室"  # repair rate per department within a hospital
    page.select_option("#f-category", "chemistry")
    load = _loaded(page, load)
    chemistry = _kpi(page, "tickets")
    assert chemistry <= one and "category=chemistry" in page.url
    page.click("[data-months='3']")
    load = _loaded(page, load)
    months = page.evaluate("echarts.getInstanceByDom(document.getElementById('c-sla')).getOption().xAxis[0].data")
    assert len(months) == 3
    page.evaluate("window.scrollTo(0, 0)")
    screenshot(page, "dashboards-filtered")

    # A card leads to the tickets behind its number, with the same filters.
    page.click("#f-reset")
    load = _loaded(page, load)
    page.select_option("#f-hospital", hospital_id)
    load = _loaded(page, load)
    tickets = _kpi(page, "tickets")
    page.click('[data-kpi="tickets"]')
    page.wait_for_url("**/dashboards/tickets?*")
    _listed(page)
    assert int(page.inner_text("#drill-count").replace(",", "")) == tickets
    first_row = page.locator("#drill-table tbody tr").first
    assert first_row.locator("a").get_attribute("href").startswith("/console?ticket=")
    assert hospital_name in page.inner_text("#drill-table")
    screenshot(page, "dashboards-drill-card")

    # A bar of a chart does too: the on-site bar of the newest month with on-site work.
    page.click("#back-to-dashboards")
    page.wait_for_url("**/dashboards?*")
    load = _loaded(page)
    page.locator('[data-chart="tiers"]').scroll_into_view_if_needed()
    bar = _bar_pixel(page, "tiers", 2)
    assert bar is not None, "the demo history has on-site repairs"
    page.mouse.click(bar["x"], bar["y"])
    page.wait_for_url("**/dashboards/tickets?*measure=on_site*")
    assert f"month={bar['month']}" in page.url
    _listed(page)
    assert int(page.inner_text("#drill-count").replace(",", "")) == bar["value"]
    assert bar["month"] in page.inner_text("#drill-context")
    assert set(page.locator("#drill-table tbody td:nth-child(7)").all_inner_texts()) == {"现场维修"}
    screenshot(page, "dashboards-drill-chart")
    assert errors == []
    context.close()


def test_an_impossible_range_is_explained_and_admins_find_the_dashboards(demo_server: LiveServer,
                                                                        browser) -> None:  # noqa: ANN001
    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="zh-CN")
    page = context.new_page()
    sign_in(page, demo_server, "admin", "/admin/devices")
    assert page.locator("nav.subnav a[href='/dashboards']").inner_text() == "看板"
    page.goto(f"{demo_server.url}/dashboards?start=2026-05&end=2026-01")
    assert page.locator("#dash-error").inner_text() == "时间范围的结束早于开始。"
    assert page.locator("#kpis .kpi").count() == 0
    screenshot(page, "dashboards-bad-range")
    context.close()


# A ticket's status as the console names it for staff; the reporter's words (已处理，待您确认, 已提交，等待受理)
# speak to the person who reported it and read wrong to the desk.
DESK_STATUS = {"submitted": "待处理", "escalated": "远程诊断中", "dispatched": "已派工", "accepted": "已接单",
               "on_site": "已到场", "resolved": "待确认", "reopened": "已重开", "closed": "已关闭",
               "cancelled": "已取消", "merged": "已合并"}


def test_the_drill_down_names_statuses_in_the_desks_words(demo_server: LiveServer, browser) -> None:  # noqa: ANN001
    context = browser.new_context(viewport={"width": 1440, "height": 900}, locale="zh-CN")
    page = context.new_page()
    errors = page_errors(page)
    sign_in(page, demo_server, "agent", "/console")
    with page.expect_response(lambda r: "/api/v1/dashboards/tickets?" in r.url) as listed:
        page.goto(f"{demo_server.url}/dashboards/tickets?measure=tickets")
    items = listed.value.json()["items"]
    _listed(page)
    status = {str(item["id"]): item["status"] for item in items}
    assert set(status.values()) - {"closed", "cancelled"}, "the demo has open tickets, whose words differ"
    rows = page.locator("#drill-table tbody tr")
    assert rows.count() == len(items)
    shown = dict(zip(rows.evaluate_all("rows => rows.map((r) => r.dataset.ticket)"),
                     page.locator("#drill-table tbody td:nth-child(6)").all_inner_texts(), strict=True))
    assert shown == {key: DESK_STATUS[value] for key, value in status.items()}
    screenshot(page, "dashboards-drill-statuses")
    assert errors == []
    context.close()
