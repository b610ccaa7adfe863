"""WeChat for `medfix demo run`: the local stand-in on a loopback port and the settings that point medfix at it.

With these settings the cloud turns its WeChat channel on and mounts the sandbox page (/wechat/sandbox).
A real Official Account needs the same variables with real values and the default API hosts.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

from cloud.config import Settings
from cloud.wechat.standin import StandIn, serve

# One template id per ticket event the channel sends (cloud/notify/messages.py); '*' covers the rest
# (predictive alerts among them). The stand-in accepts any id, so these only need to be distinct.
DEMO_TEMPLATES = {
    "ticket.submitted": "TPL-RECEIVED", "ticket.answer": "TPL-ANSWERED", "ticket.dispatch": "TPL-DISPATCHED",
    "ticket.accept": "TPL-ACCEPTED", "ticket.arrive": "TPL-ON-SITE", "ticket.complete": "TPL-COMPLETED",
    "ticket.confirm": "TPL-CLOSED", "ticket.auto_close": "TPL-CLOSED", "*": "TPL-GENERIC",
}


def standin_env(base_url: str, standin: StandIn | None = None) -> dict[str, str]:
    """MEDFIX_WECHAT_* variables that point a cloud process at the stand-in serving at base_url."""
    import json

    account = standin or StandIn()
    return {
        "MEDFIX_WECHAT_APPID": account.appid, "MEDFIX_WECHAT_SECRET": account.secret,
        "MEDFIX_WECHAT_TOKEN": account.token, "MEDFIX_WECHAT_ENCODING_AES_KEY": account.encoding_aes_key,
        "MEDFIX_WECHAT_API_BASE": base_url, "MEDFIX_WECHAT_MP_BASE": base_url, "MEDFIX_WECHAT_OPEN_BASE": base_url,
        "MEDFIX_WECHAT_TEMPLATES": json.dumps(DEMO_TEMPLATES),
        # a demo shows a failed send at once instead of after the production backoff
        "MEDFIX_WECHAT_RETRY_BACKOFF_S": "[0.2]",
    }


def start_standin_for_demo(settings: Settings) -> tuple[str, Callable[[], None], dict[str, str]]:
    """Serve the stand-in on a free loopback port in this process: (its base URL, stop(), the cloud's env)."""
    del settings  # the stand-in needs nothing from the cloud's settings; the parameter keeps the call stable
    standin = StandIn()
    stack = contextlib.ExitStack()
    base_url = stack.enter_context(serve(standin.app()))
    return base_url, stack.close, standin_env(base_url, standin)
