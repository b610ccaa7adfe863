"""Every notification text in one place (zh-CN first); flows pick the text by event name."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Text:
    """A notification's title and body, before the ticket's details are filled in."""

    title: str
    body: str


# Placeholders: {number} ticket number, {device} device label, {status}, {engineer}, {text}, {report} the service
# report's link (cloud/reports; filled once the ticket is resolved or closed).
TICKET_TEXTS: dict[str, dict[str, Text]] = {
    "ticket.submitted": {
        "reporter": Text("报修已受理", "工单 {number}（{device}）已提交，客服将尽快处理。"),
        "agent": Text("新报修工单", "{device}：{text}"),
    },
    "ticket.answer": {"reporter": Text("客服已答复", "工单 {number}：{text}。如已解决请确认。服务报告：{report}")},
    "ticket.escalate": {"reporter": Text("已转远程服务中心", "工单 {number} 已转远程服务中心诊断。"),
                        "center": Text("待远程诊断", "工单 {number}（{device}）转远程服务中心：{text}")},
    "ticket.dispatch": {
        "engineer": Text("新派工", "工单 {number}（{device}）已派给您，请尽快接单。"),
        "reporter": Text("已派工程师", "工单 {number} 已派工程师 {engineer} 处理。"),
    },
    "ticket.accept": {"reporter": Text("工程师已接单", "工程师 {engineer} 已接单（工单 {number}）。")},
    "ticket.decline": {"agent": Text("工程师退回派工", "工单 {number} 被退回待派：{text}")},
    "ticket.arrive": {"reporter": Text("工程师已到场", "工程师 {engineer} 已到达现场（工单 {number}）。")},
    "ticket.complete": {"reporter": Text(
        "维修完成，请确认", "工单 {number} 已处理完毕，请确认并评价。服务报告：{report}\n处理结果：{text}")},
    "ticket.confirm": {
        "engineer": Text("工单已关闭", "工单 {number} 已由报修人确认关闭。服务报告：{report}"),
        "agent": Text("工单已关闭", "工单 {number} 已确认关闭。服务报告：{report}"),
    },
    "ticket.auto_close": {"reporter": Text("工单已自动关闭",
                                           "工单 {number} 超时未确认，已自动关闭。服务报告：{report}")},
    "ticket.reopen": {
        "agent": Text("工单被重新打开", "工单 {number}：{text}"),
        "engineer": Text("工单被重新打开", "工单 {number}：{text}"),
    },
    "ticket.cancel": {
        "reporter": Text("工单已取消", "工单 {number} 已取消：{text}"),
        "engineer": Text("工单已取消", "工单 {number} 已取消：{text}"),
    },
    "ticket.add_info": {
        "agent": Text("报修人补充了信息", "工单 {number}：{text}"),
        "engineer": Text("报修人补充了信息", "工单 {number}：{text}"),
    },
    "ticket.reoffer": {"agent": Text("工单转给您", "工单 {number}（{device}）无人响应，已转给您处理。")},
    "ticket.overdue": {"supervisor": Text("工单超时升级", "工单 {number}（优先级 P{priority}）已超过 SLA：{text}")},
    # The service desk's console (cloud/tickets/desk.py): a message, a new engineer, a duplicate merged.
    "ticket.reply": {"reporter": Text("客服留言", "工单 {number}：{text}")},
    "ticket.reassign": {
        "engineer": Text("新派工", "工单 {number}（{device}）已改派给您，请尽快接单。"),
        "previous_engineer": Text("工单已改派", "工单 {number}（{device}）已改派给 {engineer}，您无需再处理。"),
        "reporter": Text("已更换工程师", "工单 {number} 已改由工程师 {engineer} 处理。"),
    },
    "ticket.merge": {
        "reporter": Text("报修已合并", "您的报修 {number} 与同一设备正在处理的工单 {text} 合并处理，进展请看该工单。"),
        "engineer": Text("工单已合并", "工单 {number} 已合并到工单 {text}。"),
    },
    # A predictive ticket's pre-check ended as a false alarm (cloud/alerts/precheck.py).
    "ticket.false_alarm": {"agent": Text("预测性告警误报", "工单 {number}（{device}）经预检判定为误报，"
                                                          "告警灵敏度已下调，工单已解决：{text}")},
}


# Alert placeholders: {device}, {metric}, {severity}, {score}, {number} (the predictive ticket), {why} (the alert's
# explanation in words, cloud/alerts/explain.py). "engineer": the predictive ticket's engineer; "listener": the
# device's owners and the hospital's lab managers (cloud/alerts/flows.py), each as they chose to hear.
ALERT_NO_READINGS = "暂无读数可说明"  # {why} when the store holds no readings around the alert
ALERT_TEXTS: dict[str, dict[str, Text]] = {
    "alert.opened": {
        "engineer": Text("预测性告警", "{device} 的 {metric} 偏离正常（{severity}，评分 {score}）：{why}。"
                                       "已记入工单 {number}，请查看曲线并预检。"),
        "listener": Text("设备预警", "{device} 的 {metric} 偏离正常（{severity}）：{why}。"
                                     "工程师将预检（工单 {number}），点击查看曲线。"),
    },
    "alert.escalated": {
        "engineer": Text("告警升级", "{device} 的 {metric} 异常加重（{severity}）：{why}。工单 {number}。"),
        "listener": Text("设备预警升级", "{device} 的 {metric} 异常加重（{severity}）：{why}。工单 {number}。"),
    },
    "alert.resolved": {
        "engineer": Text("告警已恢复", "{device} 的 {metric} 已恢复正常（工单 {number}）。"),
        "listener": Text("设备预警已恢复", "{device} 的 {metric} 已恢复正常。"),
    },
    # Keyed "event:resolution" where a resolution needs its own words.
    "alert.resolved:false_alarm": {
        "engineer": Text("告警已标记为误报", "{device} 的 {metric} 告警已标记为误报（工单 {number}），"
                                            "该指标的告警阈值已上调。"),
        "listener": Text("设备预警已撤销", "{device} 的 {metric} 告警经工程师核实为误报，已撤销。"),
    },
}


# The daily alert digest (cloud/alerts/digest.py): {hospital}, {day} (12月3日), {open} alerts still open, {new}
# alerts of the last day, {prechecks} pre-checks finished, {risk} devices at risk.
DIGEST_TEXT = Text("设备预警日报", "{hospital} {day}：未结预警 {open} 条，近 24 小时新增 {new} 条，"
                                   "完成预检 {prechecks} 项，高风险设备 {risk} 台。点击查看详情。")


# Reports (cloud/reports): {hospital}, {month} (2026年11月), {tickets} reported and {repaired} repaired in it.
REPORT_TEXTS: dict[str, Text] = {
    "report.monthly": Text("设备维保服务月报", "{hospital} {month}设备维保服务月报已生成：报修 {tickets} 次，"
                                               "修复 {repaired} 次。点击查看报告（PDF）。"),
}


def render(template: Text, **values: object) -> Text:
    """The text with the ticket's details filled in; missing details read as empty."""

    class Blank(dict[str, object]):
        def __missing__(self, key: str) -> str:
            return ""

    fields = Blank({k: ("" if v is None else v) for k, v in values.items()})
    return Text(template.title.format_map(fields), template.body.format_map(fields)[:500])
