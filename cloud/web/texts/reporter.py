"""UI texts of the reporter's and the engineer's phone pages and the chart page (zh-CN first)."""

from __future__ import annotations

from collections.abc import Callable

from cloud.telemetry.catalog import METRICS

# Keys the report form's script needs for the contact fields (landing page).
CONTACT_KEYS = ("contact.name_required", "contact.phone_required", "contact.phone_format")

# API messages the phone pages may show, by the English text they start with; the page shows the translation.
SERVER_MESSAGES = (
    "the photo is not an image we can read", "the photo has too many pixels", "the file is larger than",
    "the file is empty", "the voice note is not a recording we can play", "voice notes may last up to",
    "images are not accepted", "verify your account before reporting by hospital",
    "this hospital has no location on file", "already in your devices", "name and phone are needed",
    "the invite code does not match your hospital", "this invite code has expired",
)


def server_messages(translate: Callable[[str], str]) -> dict[str, str]:
    """The known API messages in the page's language, keyed by the English text they start with."""
    return {key: translate(f"server.{key}") for key in SERVER_MESSAGES} | {
        "outside_geofence": translate("server.outside_geofence"), "fallback": translate("server.fallback")}


# Units where a reading arrives without one (the metric catalog, cloud/telemetry/catalog.py).
METRIC_UNITS = {key: info.unit for key, info in METRICS.items() if info.unit}


def metric_label(metric: str, language: str) -> str:
    """A metric's display name in the language; an unknown metric keeps its key (it is all there is)."""
    from cloud.web.i18n import translate  # not at the top: i18n imports this module while building the catalog

    key = f"metric.{metric}"
    label = translate(key, language)
    return metric if label == key else label


def metric_names(translate: Callable[[str], str]) -> dict[str, str]:
    """Display names of the known metrics in the page's language, by metric key."""
    return {key: translate(f"metric.{key}") for key in METRICS}


TEXTS: dict[str, dict[str, str]] = {
    "zh-CN": {
        # contact fields of the repair form
        "contact.name_required": "请填写您的姓名",
        "contact.phone_required": "请填写联系电话，工程师需要联系您",
        "contact.phone_format": "请填写正确的手机号（如 13800001111）或带区号的座机号（如 021-64041990）",
        "Please enter your name.": "请填写您的姓名。",
        # API messages on the phone pages
        "server.the photo is not an image we can read": "无法识别这张照片，请上传 JPEG、PNG、WebP 或 GIF 格式的图片",
        "server.the photo has too many pixels": "照片像素过大，请压缩后重试",
        "server.the file is larger than": "文件过大，请压缩后重试",
        "server.the file is empty": "文件为空，请重新选择",
        "server.the voice note is not a recording we can play": "无法播放这段录音，请重新录制",
        "server.voice notes may last up to": "语音最长 60 秒，请重新录制",
        "server.images are not accepted": "不支持这种图片格式，请使用 JPEG、PNG、WebP 或 GIF",
        "server.verify your account before reporting by hospital": "请先用医院邀请码完成认证，再按医院报修",
        "server.this hospital has no location on file": "该医院尚未登记位置，请按设备编号报修或联系服务台",
        "server.already in your devices": "已在“我的设备”中",
        "server.name and phone are needed": "请填写姓名和联系电话",
        "server.the invite code does not match your hospital": "邀请码与您的医院不符",
        "server.this invite code has expired": "邀请码已过期，请向医院管理员索取新的邀请码",
        "server.outside_geofence": "您距离{hospital}约 {distance}，按医院报修仅限在院内（{radius} 范围内）使用",
        "server.fallback": "操作未成功，请重试",
        "Type the serial on the nameplate, the device number (MF-…) or the line's number (MG-…).":
            "请输入铭牌上的序列号、设备编号（MF-…）或流水线编号（MG-…）。",
        # duplicate hint on the repair page
        "An open repair is in progress": "已有报修处理中",
        "This device already has an open ticket. Add what you see to it instead of opening another.":
            "这台设备已有未完成的报修。您可以把看到的情况补充到该工单，无需重复报修。",
        "Add to this ticket": "补充到此工单",
        "What else did you see? (error code, when it happened)": "补充情况（报警代码、发生时间等）",
        "Your name (optional)": "您的姓名（选填）",
        "View the ticket": "查看工单",
        "Report a new fault anyway": "仍要新建报修",
        "Added to ticket": "已补充到工单",
        "The engineer sees it in the ticket's timeline.": "工程师会在工单记录中看到您补充的内容。",
        "Recent repairs per device": "各成员设备近期维修",
        "No repairs yet": "暂无维修记录",
        # ticket page: photos and dialogs
        "Before repair": "维修前",
        "After repair": "维修后",
        "Photos from the report": "报修时上传的照片",
        "Photos of the repair": "工程师维修照片",
        "Why withdraw it?": "撤销原因",
        "dialog.withdraw": "确认撤销",
        "dialog.keep": "暂不撤销",
        "Please give a reason.": "请填写原因。",
        "Send": "发送",
        "Confirm": "确定",
        "Cancel": "取消",
        # the engineer's confirmations and the hospital card
        "confirm.accept": "确认接单？接单后报修人会收到通知。",
        "confirm.arrive": "确认已到达现场？",
        "confirm.complete": "确认维修完成并提交？报修人将收到确认通知。",
        "confirm.decline": "确认拒绝此派单？工单将退回服务台重新派工。",
        "Address": "地址",
        "Open in map": "在地图中打开",
        "Hotline": "服务热线",
        "Device history": "设备维修历史",
        "No earlier repairs of this device.": "该设备暂无其他维修记录。",
        "Repair photos": "维修照片",
        # sign in, register, bind (outside WeChat)
        "Sign in to report by hospital": "登录后按医院报修",
        "Reporting by hospital lists a hospital's devices, so it needs an account of that hospital.":
            "按医院报修会列出医院的设备，需要使用该医院的账号。",
        "I have an account": "已有账号",
        "New here? Register as lab staff": "没有账号？注册检验科账号",
        "With your hospital's invite code your account is verified at once; without it the service desk checks it.":
            "填写医院邀请码可立即完成认证；没有邀请码时，由服务台人工审核。",
        "Other ways to report": "其他报修方式",
        "Register": "注册",
        "Lab staff account": "检验科人员注册",
        "Full name": "姓名",
        "Mobile": "手机号",
        "register.invite_label": "邀请码",
        "register.invite_hint": "向科室索取（选填）",
        "register.hospital_hint": "没有邀请码时填写医院名称",
        "register.username_hint": "字母或数字，至少 3 位",
        "Create the account": "注册并登录",
        "At least 8 characters": "至少 8 位",
        "register.username": "用户名至少 3 位，可用字母、数字、点、连字符或下划线",
        "register.password": "密码至少 8 位",
        "register.taken": "该用户名已被使用，请换一个",
        "register.invite_code": "邀请码不正确或已过期，请向科室确认",
        "This invite code is not known. Check it with your lab.": "邀请码不存在，请向科室确认。",
        "Type your hospital's full name, or enter its invite code.": "请填写医院全称，或填写邀请码。",
        "No hospital has this name. Check it, or enter the invite code.": "未找到该医院，请检查名称或填写邀请码。",
        "Bind to your hospital": "绑定医院",
        "Enter your hospital's invite code": "请输入医院邀请码",
        "Bind": "绑定",
        "Waiting for the service desk to verify your account.": "账号正在等待服务台审核。",
        # who did a step, when it was no person
        "who.reporter-link": "报修人",
        "who.predictive": "预测性维护",
        "who.sla-timer": "系统（时限提醒）",
        "who.system": "系统",
        "who.wechat-sandbox": "微信",
        "who.report-by-id": "系统",
        # metrics on the chart page and the pre-check
        "Chart": "趋势图",
        "Severity": "级别",
        "Time": "时间",
    },
    "en": {
        "contact.name_required": "Please enter your name",
        "contact.phone_required": "Please enter a phone number so the engineer can reach you",
        "contact.phone_format": "Enter a mainland mobile (e.g. 13800001111) or a landline with its area code "
                                "(e.g. 021-64041990)",
        **{f"server.{key}": key[:1].upper() + key[1:] for key in SERVER_MESSAGES},
        "server.the photo is not an image we can read": "The photo is not an image we can read (JPEG, PNG, WebP "
                                                        "or GIF)",
        "server.outside_geofence": "You are about {distance} from {hospital}; reporting by hospital works only on "
                                   "site (within {radius})",
        "server.fallback": "That did not work; please try again",
        "dialog.withdraw": "Withdraw",
        "in_service": "In service",
        "fault": "Fault",
        "under_repair": "Under repair",
        "retired": "Retired",
        "who.reporter-link": "Reporter",
        "who.predictive": "Predictive maintenance",
        "who.sla-timer": "System (deadline timer)",
        "who.system": "System",
        "who.wechat-sandbox": "WeChat",
        "who.report-by-id": "System",
        "dialog.keep": "Keep it",
        "confirm.accept": "Accept this job? The reporter is told.",
        "confirm.arrive": "Confirm you are on site?",
        "confirm.complete": "Submit the repair as complete? The reporter is asked to confirm.",
        "confirm.decline": "Decline this dispatch? The ticket goes back to the service desk.",
        "register.username": "At least 3 letters, digits, dots, dashes or underscores",
        "register.invite_label": "Invite code",
        "register.invite_hint": "From your lab (optional)",
        "register.hospital_hint": "Hospital name, if no invite code",
        "register.username_hint": "Letters or digits, 3 or more",
        "register.password": "At least 8 characters",
        "register.taken": "This username is taken; choose another",
        "register.invite_code": "The invite code is wrong or expired; check it with your lab",
    },
}

# The metrics' display names, from the catalog.
TEXTS["zh-CN"].update({f"metric.{key}": info.zh for key, info in METRICS.items()})
TEXTS["en"].update({f"metric.{key}": info.en for key, info in METRICS.items()})
