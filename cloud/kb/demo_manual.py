"""The demo's service manual: a small Chinese PDF with an outline, written for medfix, seeded into the KB.

It exists so `make run` shows the bot answering with a manual section, as a hospital's own uploaded manual
would. The text is ours (general good practice for clinical analyzers), not any manufacturer's manual.
"""

from __future__ import annotations

from io import BytesIO

from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfgen.canvas import Canvas

TITLE = "检验分析仪常见故障处理手册（演示版）"
FONT = "STSong-Light"

# (section title, the models it applies to, paragraphs). Each section starts a page and an outline entry.
SECTIONS: list[tuple[str, tuple[str, ...], tuple[str, ...]]] = [
    ("1 反应盘温度异常", ("AU5800", "cobas c 702", "cobas c 502", "BS-2000M"), (
        "现象：反应盘（孵育盘）温度报警，或实时温度偏离 37.0 ℃ 超过 ±0.3 ℃，测试结果整体偏高或偏低。",
        "1. 查看室温是否在 18–32 ℃ 之间，仪器四周至少留出 30 cm 通风空间。",
        "2. 检查恒温液（反应盘水浴）液位，低于下限时按手册补加专用恒温液，不可使用自来水。",
        "3. 清洁仪器背部散热风扇的防尘滤网，滤网堵塞是温度缓慢漂移最常见的原因。",
        "4. 用参考温度计在反应杯位测量实际温度，与仪器显示值比较，差值超过 0.3 ℃ 需工程师校准。",
        "5. 温度恢复稳定 30 分钟后，重新做质控，质控在控后再恢复患者样本检测。",
    )),
    ("2 样本针堵塞与吸样报警", ("AU5800", "cobas c 702", "cobas c 311", "XN-1000", "BS-2000M"), (
        "现象：出现“吸样异常/堵针”报警，样本被跳过，或同一样本复测结果差异大。",
        "1. 先查看样本本身：是否有纤维蛋白丝、凝块或气泡，离心不充分的血清最容易堵针。",
        "2. 在维护菜单执行样本针清洗程序；仍报警时，按手册取下样本针，用配套通针和清洗液疏通。",
        "3. 检查样本针是否弯曲、针尖是否有损伤，弯针必须更换，不可自行矫直。",
        "4. 重新安装后执行液面检测和吸样检查，确认无漏液。",
        "5. 被跳过的样本重新离心后复测。",
    )),
    ("3 ISE 电极定标失败", ("AU5800", "cobas c 702", "cobas c 502", "cobas c 311"), (
        "现象：ISE 定标失败，斜率超出范围，或钠、钾、氯结果漂移。",
        "1. 检查 ISE 参比液、中间液和标准液是否在有效期内、液量是否充足，开瓶后按手册规定时间更换。",
        "2. 观察管路中有无气泡，执行 ISE 灌注（Prime）两到三次。",
        "3. 清洗电极：执行 ISE 清洗程序，必要时用专用清洗液浸泡。",
        "4. 重新定标；单个电极仍失败时，查看电极使用时长，超过寿命需更换电极。",
    )),
    ("4 光源灯老化与更换", ("AU5800", "cobas c 702", "cobas c 502", "cobas c 311", "BS-2000M"), (
        "现象：光度计检查报警、吸光度噪声增大、灯能量低提示，或多项目结果重复性变差。",
        "1. 在系统状态中查看光源灯累计使用时长，接近更换限值时应提前准备备件。",
        "2. 执行光度计检查（比色杯空白），记录各波长能量值。",
        "3. 更换光源灯前必须关机并等待灯体冷却至少 15 分钟，防止烫伤。",
        "4. 更换后预热 30 分钟，执行光度计检查和全部项目定标，质控在控后恢复使用。",
    )),
    ("5 试剂余量不足与试剂条码读不出", ("cobas e 801", "cobas c 702", "ARCHITECT i2000SR", "AU5800"), (
        "现象：提示试剂余量不足、试剂过期，或试剂盒放入后条码无法识别。",
        "1. 核对试剂在机稳定期和有效期，过期试剂不可继续使用。",
        "2. 条码读不出时，检查条码是否有污渍、冷凝水或褶皱，用干净无尘纸擦干后重新放入。",
        "3. 仍无法识别时，可按手册手动录入试剂批号和序列号，并做好记录。",
        "4. 更换试剂批号后，按要求执行定标和质控。",
    )),
    ("6 质控失控的处理", ("AU5800", "cobas c 702", "cobas e 801", "XN-1000", "CS-5100", "BS-2000M"), (
        "现象：质控结果超出控制限，或违反 Westgard 多规则。",
        "1. 立即暂停该项目的患者报告，复查质控品是否正确复溶、是否过期、是否混匀。",
        "2. 用新开的质控品复测；仍失控时检查试剂、定标是否过期，必要时重新定标。",
        "3. 多个项目同时失控，优先排查共用部分：温度、光源、清洗液和纯水质量。",
        "4. 质控恢复在控后，评估失控期间已报告的结果是否需要复测。",
    )),
    ("7 血细胞分析仪吸样错误与堵孔", ("XN-1000", "XN-550", "XN-10 (B4)", "Pentra XLR"), (
        "现象：吸样错误、堵孔报警，计数结果异常低或直方图异常。",
        "1. 检查标本是否有凝块，抗凝管是否充分颠倒混匀。",
        "2. 执行清洗程序（如“清洗检测器/堵孔清除”），必要时用专用清洗液浸泡。",
        "3. 检查稀释液、溶血剂是否充足、是否有结晶。",
        "4. 清洗后运行质控，确认计数恢复正常。",
    )),
    ("8 LIS 通讯中断", ("AU5800", "cobas c 702", "cobas e 801", "XN-1000", "cobas 8100", "GeneXpert IV"), (
        "现象：结果无法上传 LIS，工作单下载失败，仪器显示主机通讯错误。",
        "1. 检查仪器与 LIS 服务器之间的网线或串口线是否松动，串口设置（波特率、校验）是否被改动。",
        "2. 查看 LIS 接口程序是否在运行，可请信息科确认服务器状态。",
        "3. 在仪器上重新启动主机通讯，观察是否有结果补传。",
        "4. 通讯恢复前，结果可先在仪器上保存，恢复后核对是否全部上传，不可重复手工录入。",
    )),
    ("9 废液桶满与清洗液不足", ("AU5800", "cobas c 702", "cobas c 311", "XN-1000", "BS-2000M"), (
        "现象：提示废液满、清洗液不足，仪器暂停加样。",
        "1. 戴好手套，按生物安全要求倾倒或更换废液桶，废液按医疗废物处理。",
        "2. 检查废液浮子传感器是否被污物卡住，清洁后复位。",
        "3. 补充或更换清洗液，注意区分碱性、酸性清洗液，不可混用。",
        "4. 在系统中确认耗材状态恢复正常后继续检测。",
    )),
    ("10 安全须知", (), (
        "出现冒烟、焦糊味、明火、漏电或液体流入电路时：立即停止操作，在确保自身安全的前提下切断电源，",
        "疏散人员并通知科室负责人和设备科，拨打服务热线，不要自行拆机。",
        "生物危害样本溢洒：按实验室生物安全程序处理，先覆盖吸附再消毒，做好个人防护。",
    )),
]


def render_pdf() -> bytes:
    """The manual as PDF bytes: a title page, then one page and one outline entry per section."""
    pdfmetrics.registerFont(UnicodeCIDFont(FONT))
    buffer = BytesIO()
    canvas = Canvas(buffer, pagesize=A4, pageCompression=1)
    canvas.setTitle(TITLE)
    width, height = A4
    canvas.setFont(FONT, 20)
    canvas.drawString(25 * mm, height - 60 * mm, TITLE)
    canvas.setFont(FONT, 11)
    canvas.drawString(25 * mm, height - 72 * mm, "medfix 演示知识库配套资料 · 仅供演示")
    canvas.showPage()
    for number, (title, models, paragraphs) in enumerate(SECTIONS, start=1):
        key = f"section-{number}"
        canvas.bookmarkPage(key)
        canvas.addOutlineEntry(title, key, level=0)
        canvas.setFont(FONT, 15)
        canvas.drawString(20 * mm, height - 25 * mm, title)
        y = height - 35 * mm
        canvas.setFont(FONT, 9)
        if models:
            canvas.drawString(20 * mm, y, "适用机型：" + "、".join(models))
            y -= 8 * mm
        canvas.setFont(FONT, 11)
        for paragraph in paragraphs:
            for line in _wrap(paragraph, 44):
                canvas.drawString(20 * mm, y, line)
                y -= 6.5 * mm
            y -= 2 * mm
        canvas.showPage()
    canvas.save()
    return buffer.getvalue()


def _wrap(text: str, width: int) -> list[str]:
    # CJK text wraps at any character; a fixed count per line is enough for this page width and font size.
    return [text[i:i + width] for i in range(0, len(text), width)] or [""]
