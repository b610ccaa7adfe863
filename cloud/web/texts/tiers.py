"""UI texts of the tiers: self-service, escalation with the bot conversation, the tier a case was solved at."""

from __future__ import annotations

TEXTS: dict[str, dict[str, str]] = {
    "zh-CN": {
        # the action, in lists of actions and in the timeline
        "self_serve": "已自助解决",
        "action.self_serve": "自助解决",
        # the tier
        "Tier": "服务层级",
        "tier.basic": "自助解决",
        "tier.remote": "远程解决",
        "tier.on_site": "现场维修",
        # the conversation block (console, engineer page)
        "Bot conversation": "机器人对话记录",
        "conversation.user": "报修人",
        "conversation.bot": "机器人",
        "conversation.agent": "客服",
        "KB entry": "知识库条目",
        "Device chart": "设备运行曲线",
        "The bot could not solve it; the reporter asked for the service centre.":
            "机器人未能解决，报修人请求转远程服务中心。",
        # the remote centre's choice on an escalated ticket
        "Resolve remotely": "远程解决",
        "Dispatch an engineer": "派工程师",
        "Remote answer to the reporter": "给报修人的远程解决说明",
        "Note (optional)": "说明（可选）",
        # the reporter's page
        "Solved by self-service": "已自助解决",
        "Solved it yourself with the bot or the manual? Close the ticket.":
            "已通过机器人或说明书自行解决？可直接关闭工单。",
        "Close this ticket as solved by yourself?": "确认问题已自行解决并关闭工单？",
    },
    "en": {
        "self_serve": "Solved by self-service",
        "action.self_serve": "Solved by self-service",
        "tier.basic": "Self-service",
        "tier.remote": "Solved remotely",
        "tier.on_site": "On-site repair",
        "conversation.user": "Reporter",
        "conversation.bot": "Bot",
        "conversation.agent": "Agent",
    },
}

# The keys the service desk console and the engineer pages look up (cloud/web/desk.py JS_TEXTS).
JS_KEYS: tuple[str, ...] = (
    "self_serve", "action.self_serve", "Tier", "tier.basic", "tier.remote", "tier.on_site",
    "Bot conversation", "conversation.user", "conversation.bot", "conversation.agent", "KB entry", "Device chart",
    "The bot could not solve it; the reporter asked for the service centre.", "Resolve remotely",
    "Dispatch an engineer", "Remote answer to the reporter", "Note (optional)",
)
