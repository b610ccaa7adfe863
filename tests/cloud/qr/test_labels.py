"""Label sheets: pages per template, every label's text present in order, long text kept inside the label."""

from __future__ import annotations

import pytest
from reportlab.pdfbase import pdfmetrics

from cloud.qr import labels
from cloud.qr.labels import Label
from tests.cloud.qr.pdftext import page_count, strings

HOSPITAL = "上海交通大学医学院附属瑞金医院"


def _label(i: int) -> Label:
    return Label(qr_content=f"https://fix.example.cn/r/CODE{i:06d}", title=f"MF-{i:06d}",
                 lines=("Roche cobas c 702", HOSPITAL, "检验科"), caption="S/N", big=f"SN-{i:05d}")


@pytest.mark.parametrize(("template", "count", "pages"), [("a4-3x8", 24, 1), ("a4-3x8", 25, 2),
                                                          ("a4-3x8", 50, 3), ("thermal-50x30", 5, 5)])
def test_labels_fill_pages_of_the_template(template: str, count: int, pages: int) -> None:
    pdf = labels.render_pdf([_label(i) for i in range(count)], template)
    assert pdf.startswith(b"%PDF")
    assert page_count(pdf) == pages
    text = strings(pdf)
    assert sum(1 for s in text if s.startswith("SN-")) == count


def test_every_label_shows_its_text_in_the_order_given() -> None:
    order = [7, 2, 19, 4]
    text = strings(labels.render_pdf([_label(i) for i in order], "a4-3x8"))
    serials = [s for s in text if s.startswith("SN-")]
    assert serials == [f"SN-{i:05d}" for i in order]
    assert [s for s in text if s.startswith("MF-")] == [f"MF-{i:06d}" for i in order]
    assert text.count("检验科") == len(order)
    assert "Roche cobas c 702" in text


def test_long_chinese_text_is_wrapped_or_shrunk_never_wider_than_the_label() -> None:
    template = labels.TEMPLATES["thermal-50x30"]
    long_name = "中国人民解放军总医院第一医学中心临床检验医学中心生化免疫实验室"
    label = Label(qr_content="https://fix.example.cn/r/X", title="MF-000001",
                  lines=("Beckman Coulter AU5800 Clinical Chemistry System", long_name, "检验科"),
                  caption="S/N", big="ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
    text = strings(labels.render_pdf([label], template))
    pieces = [s for s in text if s != "检验科" and s[0] in long_name]
    assert 1 <= len(pieces) <= 2
    assert "".join(pieces).rstrip(labels.ELLIPSIS) in long_name
    big = next(s for s in text if s.startswith("ABCDEF"))
    assert pdfmetrics.stringWidth(big, labels.LATIN_BOLD, template.big_size * 0.45) < template.label_width


def test_templates_fit_their_paper() -> None:
    for template in labels.TEMPLATES.values():
        right = template.left + template.columns * template.label_width + (template.columns - 1) * template.column_gap
        bottom = template.top + template.rows * template.label_height + (template.rows - 1) * template.row_gap
        assert right <= template.page_width + 0.01
        assert bottom <= template.page_height + 0.01
        assert template.origin(template.per_page - 1)[1] >= -0.01
