"""UI texts of the service desk's inbox: search, filters, views, reply, reassign, merge (zh-CN first).

Also the timeline and status words of the new actions, which the reporter's ticket page shows too
(cloud/web/report.py looks up action.<name>, status.<name> and hint.<name> for every action and status).
"""

from __future__ import annotations

TEXTS: dict[str, dict[str, str]] = {
    "zh-CN": {
        # search, views, filters
        "desk.Search": "搜索",
        "desk.Number, device, serial, reporter, phone or text": "工单号、设备编号、序列号、报修人、电话或描述",
        "desk.Views": "视图",
        "desk.tab.todo": "待处理", "desk.tab.remote": "远程中心", "desk.tab.dispatched": "已派工",
        "desk.tab.resolved": "待确认", "desk.tab.closed": "已关闭",
        "desk.Mine": "我的",
        "desk.Unassigned": "未分配",
        "desk.All": "全部",
        "desk.Filters": "筛选",
        "desk.Clear filters": "清除筛选",
        "desk.Any": "全部",
        "desk.Assignee": "负责人",
        "desk.Source": "来源",
        "desk.source.reported": "人工报修",
        "desk.source.predictive": "预测性维护",
        "No tickets match the search and filters.": "没有符合搜索和筛选条件的工单。",
        # duplicates and merging
        "Possible duplicate": "可能重复",
        "Another open ticket exists for this device.": "同一设备还有处理中的工单。",
        "desk.Merge": "合并",
        "desk.Merge duplicate tickets?": "合并重复工单？",
        "desk.merge.text": "较新的工单 {newer} 将合并到较早的工单 {older}：照片和语音转入 {older}，"
                           "{newer} 关闭为“已合并”（不计为已解决），并通知其报修人。",
        "desk.Merged.": "已合并。",
        "Merged from": "合并自",
        "Merged into": "已合并到",
        # reply, resolve remotely, reassign
        "desk.Reply": "回复",
        "desk.Message to the reporter": "给报修人的消息（工单状态不变）",
        "desk.Resolve this ticket remotely?": "确认远程解决？",
        "desk.confirm.resolve": "工单将标记为已解决，并请报修人确认。如只需与报修人沟通、不结束工单，请使用“回复”。",
        "desk.Back": "返回",
        "desk.Reassign": "改派",
        "desk.Reason for the change (optional)": "改派原因（选填）",
        # the reporter's other tickets
        "desk.The reporter's other tickets": "该报修人的其他工单",
        "desk.No other tickets.": "没有其他工单。",
        # statuses and timeline entries of the new actions (console, engineer and reporter pages)
        "merged": "已合并",
        "reply": "回复",
        "reassign": "改派",
        "merge": "合并",
        "action.reply": "客服留言",
        "action.reassign": "改派工程师",
        "action.merge": "已合并到工单",
        "status.merged": "已合并到其他工单",
        "hint.merged": "同一设备已有工单在处理，进展请看合并后的工单。",
    },
    "en": {
        "desk.Search": "Search",
        "desk.Number, device, serial, reporter, phone or text": "Number, device, serial, reporter, phone or text",
        "desk.Views": "Views",
        "desk.tab.todo": "To handle", "desk.tab.remote": "Remote", "desk.tab.dispatched": "Dispatched",
        "desk.tab.resolved": "To confirm", "desk.tab.closed": "Closed",
        "desk.Mine": "Mine",
        "desk.Unassigned": "Unassigned",
        "desk.All": "All",
        "desk.Filters": "Filters",
        "desk.Clear filters": "Clear filters",
        "desk.Any": "any",
        "desk.Assignee": "Assignee",
        "desk.Source": "Source",
        "desk.source.reported": "Reported",
        "desk.source.predictive": "Predictive",
        "No tickets match the search and filters.": "No tickets match the search and filters.",
        "Possible duplicate": "Possible duplicate",
        "Another open ticket exists for this device.": "Another open ticket exists for this device.",
        "desk.Merge": "Merge",
        "desk.Merge duplicate tickets?": "Merge duplicate tickets?",
        "desk.merge.text": "The newer ticket {newer} is merged into the older {older}: its photos and voice notes move "
                           "to {older}, {newer} ends as merged (not counted as solved) and its reporter is told.",
        "desk.Merged.": "Merged.",
        "Merged from": "Merged from",
        "Merged into": "Merged into",
        "desk.Reply": "Reply",
        "desk.Message to the reporter": "Message to the reporter (the status stays)",
        "desk.Resolve this ticket remotely?": "Resolve this ticket remotely?",
        "desk.confirm.resolve": "The ticket becomes resolved and the reporter is asked to confirm. "
                                         "To keep the conversation going without resolving, use Reply.",
        "desk.Back": "Back",
        "desk.Reassign": "Reassign",
        "desk.Reason for the change (optional)": "Reason for the change (optional)",
        "desk.The reporter's other tickets": "The reporter's other tickets",
        "desk.No other tickets.": "No other tickets.",
        "merged": "Merged",
        "reply": "Reply",
        "reassign": "Reassign",
        "merge": "Merge",
        "action.reply": "Message from the desk",
        "action.reassign": "Engineer changed",
        "action.merge": "Merged into ticket",
        "status.merged": "Merged into another ticket",
        "hint.merged": "Another ticket for the same device is being handled; follow that one.",
    },
}

# The keys the console's scripts look up (cloud/web/desk.py JS_TEXTS); the role names come from texts/admin.py.
JS_KEYS: tuple[str, ...] = (
    *(key for key in TEXTS["en"] if not key.startswith(("status.", "hint."))),
    "role.agent", "role.engineer",
)
