"""Every text the bot says (zh-CN), in one place; channels add their own links around them."""

from __future__ import annotations

HANDOFF = "抱歉，这个问题我还不能确定答案，已为您转给人工客服，请稍候，客服会尽快回复您。"
REPAIR_HANDOFF = "收到，已为您转给人工客服处理。"
URGENT_HANDOFF = "已紧急通知值班工程师，请保持电话畅通。"
OUT_OF_SCOPE = "抱歉，我只能回答检验科仪器设备（使用、维护、报警与故障）方面的问题。"
GREETING = "您好，我是设备助手。请直接描述仪器的问题，例如型号、报警代码或看到的现象。"
SAFETY_DEFAULT = "请立即停止使用仪器并切断电源，远离设备，确保人员安全。"
REPAIR_DEVICE = "如需报修，请打开本设备的报修页：{url}"
REPAIR_BY_NUMBER = "如需报修，请在报修页输入设备编号 {number}：{base}/report"
REPAIR_HERE = "如需报修，请在本页下方填写故障描述并提交。"
REPAIR_BACKUP = ("如需报修，请扫描设备上的二维码；没有二维码时可按设备编号报修：{base}/report ；"
                 "在医院内按医院查找：{base}/report/hospital ；或从我的设备报修：{base}/my/devices")
MATERIAL_LINE = "【{kind}】{title} {url}"
KIND_LABELS = {"manual": "手册", "video": "视频", "image": "图片", "link": "链接"}
ALTERNATIVES_INTRO = "您是不是想问："
VOICE_UNHEARD = "没听清，请再说一遍或输入文字"
FEEDBACK_THANKS = "感谢反馈，很高兴问题已解决。"
FEEDBACK_HANDOFF = "抱歉没能帮上忙，已为您转人工处理，请稍候。"
WECHAT_CONTINUE = "客服会在服务群里回复您：{base}/groups （需先完成医院验证）；紧急情况请拨打科室值班电话。"
ESCALATED = "已转远程服务中心处理，工单 {number}，可随时查看进度。"
ADDED_TO_OPEN = "该设备已有工单 {number} 在处理中，您的问题已补充到该工单，可随时查看进度。"
ADDED_FROM_CHAT = "{text}\n— {name}（服务群中机器人未能解决）"
CONVERSATION_HANDOFF = "（未能回答，已转人工）"
EMPTY_QUESTION = "请先输入您的问题"
TOO_LONG = "问题太长了（最多 {limit} 字），请简要描述"
UNKNOWN_DEVICE = "找不到这台设备（device_id={device_id}），请核对设备编号"
RATE_LIMITED = "提问太频繁了，请稍后再试"
NOT_YOUR_ASK = "这条提问不存在，或不是您提的"

# Notifications to the on-duty agents (cloud.notify Text title/body).
HANDOFF_TITLE = "机器人转人工"
URGENT_TITLE = "【紧急】安全问题转人工"
HANDOFF_BODY = "{where}提问：{text}"
UNVERIFIED_TITLE = "未验证用户转人工（未开工单）"
UNVERIFIED_BODY = ("未验证用户 {name}（电话 {phone}）说设备 {device} 的问题没解决：{text}。"
                   "该设备是用户自述、未经标签核实，请先联系用户确认设备后再开工单。")
