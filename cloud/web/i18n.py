"""The one translation function for UI text: zh-CN first, English as the second language."""

from __future__ import annotations

DEFAULT_LANGUAGE = "zh-CN"
LANGUAGES = ("zh-CN", "en")

# Keys are the English text; values per language. English falls back to the key itself.
CATALOG: dict[str, dict[str, str]] = {
    "zh-CN": {
        "medfix": "medfix 医修",
        "Sign in": "登录",
        "Sign out": "退出",
        "Username": "用户名",
        "Password": "密码",
        "Wrong username or password": "用户名或密码错误",
        "Devices": "设备",
        "Device groups": "设备组",
        "Administration": "系统管理",
        "System no.": "系统编号",
        "Serial": "铭牌序列号",
        "Manufacturer / model": "厂家 / 型号",
        "Category": "类别",
        "Hospital": "医院",
        "Department": "科室",
        "Status": "状态",
        "Score": "维保评分",
        "Group": "设备组",
        "Search": "搜索",
        "All hospitals": "全部医院",
        "All statuses": "全部状态",
        "Search by number, serial, model": "按编号、序列号、型号搜索",
        "in_service": "在用",
        "fault": "故障",
        "under_repair": "维修中",
        "retired": "已报废",
        "devices": "台设备",
        "Previous": "上一页",
        "Next": "下一页",
        "No devices match.": "没有符合条件的设备。",
        "Line": "产线",
        "Compatible models": "兼容型号",
        "members": "台成员设备",
        "Drag to reorder; the order is saved at once.": "拖动可调整顺序，松手即保存。",
        "Order saved": "顺序已保存",
        "Could not save the order": "顺序保存失败",
        "Warnings": "提醒",
        "No device groups yet.": "暂无设备组。",
        "Signed in as": "当前用户",
        "Page not found": "页面不存在",
        "chemistry": "生化",
        "immunoassay": "免疫",
        "hematology": "血液",
        "coagulation": "凝血",
        "urinalysis": "尿液",
        "molecular": "分子",
        "blood_gas": "血气",
        "microbiology": "微生物",
        "poct": "即时检验",
        "automation": "流水线",
        "other": "其他",
        "Hospitals": "医院",
        "Keep lab analyzers running": "让检验设备持续运转",
    },
    "en": {"medfix": "medfix"},
}


def translate(text: str, language: str = DEFAULT_LANGUAGE) -> str:
    """text in language; unknown texts come back unchanged (they are English already)."""
    return CATALOG.get(language, {}).get(text, text)


def pick_language(cookie: str | None, accept_language: str | None) -> str:
    """The language for a request: an explicit cookie wins, then Accept-Language, then zh-CN."""
    if cookie in LANGUAGES:
        return cookie
    header = (accept_language or "").lower()
    if header.startswith("en"):
        return "en"
    return DEFAULT_LANGUAGE
