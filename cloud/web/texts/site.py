"""UI texts of the site-wide pieces: error pages, favicon, API docs (cloud/web/fallback.py)."""

from __future__ import annotations

TEXTS: dict[str, dict[str, str]] = {
    "zh-CN": {
        "Page not found": "页面不存在",
        "The address may be mistyped, or the page was moved.": "网址可能有误，或页面已移动。",
        "No access": "无权访问",
        "Your account may not open this page.": "您的账号无权打开此页面。",
        "Something went wrong": "系统出错了",
        "The service could not finish this request. Please try again in a moment.":
            "服务暂时无法完成该请求，请稍后重试。",
        "Home": "返回首页",
    },
    "en": {},
}
