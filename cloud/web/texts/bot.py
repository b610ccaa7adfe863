"""UI texts of the bot pages and messages (zh-CN first)."""

from __future__ import annotations

TEXTS: dict[str, dict[str, str]] = {
    "zh-CN": {
        # /admin/bot
        "Bot: unanswered questions": "机器人：未能回答的问题",
        "groups": "组",
        "Period": "时间范围",
        "Last": "最近",
        "days": "天",
        "Bot rates by week": "机器人每周指标",
        "Self-service: solved by the bot; handover: passed to a person; accuracy: answers marked solved among "
        "those with feedback.":
            "自助解决率：机器人解决的比例；转人工率：转给人工的比例；反馈准确率：有反馈的回答中标记“已解决”的比例。",
        "Weeks start on Monday": "每周从周一开始",
        "Week of": "周（起始日）",
        "Questions": "提问数",
        "Self-service rate": "自助解决率",
        "Handover rate": "转人工率",
        "Feedback accuracy": "反馈准确率",
        "times asked": "次提问",
        "Last asked": "最近提问",
        "Channels": "渠道",
        "channel.web": "网页",
        "channel.wechat": "微信",
        "channel.group": "服务群",
        "channel.report": "报修页",
        "marked not solved": "次反馈未解决",
        "more": "条更多",
        "Mark the right entry": "标记正确的知识条目",
        "Choose an entry…": "选择知识条目…",
        "The bot’s best guesses": "机器人的候选答案",
        "All entries": "全部条目",
        "Save and teach the bot": "保存并教会机器人",
        "Write an entry from these": "据此编写新条目",
        "Question": "问题",
        "Other wordings (one a line)": "其他问法（每行一个）",
        "Answer": "答案",
        "Steps, one a line": "处理步骤，每行一步",
        "Device models (comma separated)": "适用型号（逗号分隔）",
        "Fault codes (comma separated)": "故障代码（逗号分隔）",
        "Create the entry": "创建条目",
        "Open in the knowledge-base editor": "在知识库编辑器中打开",
        "The bot answered everything in this period.": "这段时间内机器人都回答上了。",
        "Saved; the bot learned it.": "已保存，机器人已学会。",
        "Entry created; the bot learned it.": "条目已创建，机器人已学会。",
        "Bot": "机器人",
        # repair page suggestions
        "Maybe this helps": "也许能帮您自行解决",
        "This solved my problem": "这解决了我的问题",
        "Not this": "不是这个",
        "Glad it is solved. No need to submit a report.": "问题已解决，无需提交报修。",
        "Still need help? Submit the report below.": "仍需帮助？请在下方提交报修。",
        "Safety first": "安全第一",
        # the WeChat sandbox's message card (cloud/wechat/sandbox.py)
        "Send a message": "发送消息",
        "The bot answers text and voice messages; a voice message carries WeChat's speech recognition.":
            "机器人回答文字和语音消息；语音消息带有微信的语音识别结果。",
        "Message": "消息内容",
        "Send text": "发送文字",
        "Send as voice": "作为语音发送",
        "[Voice]": "[语音]",
    },
    "en": {
        "channel.web": "Web",
        "channel.wechat": "WeChat",
        "channel.group": "Service group",
        "channel.report": "Repair page",
    },
}
