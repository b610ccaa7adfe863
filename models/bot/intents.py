"""Intents that come before retrieval: safety, greetings, out of scope, and whether the user wants a repair."""

from __future__ import annotations

import re

# Each safety kind: patterns in normalised (half-width, lower-case) text. Safety always wins over a KB answer,
# so these lean towards catching too much rather than too little.
_SAFETY: tuple[tuple[str, str], ...] = (
    ("fire", r"起火|着火|失火|火苗|明火|火光|火星|火花|冒火|烧起来|燃起来|燃烧|fire|爆炸|炸了"
             r"|(?:机器|仪器|后面|里面|电源|插座|线).{0,2}着了"),
    ("smoke", r"冒.{0,4}烟|有烟|出烟|起烟|烟雾|smok"),
    ("burning", r"焦糊|焦味|糊味|烧焦|烧糊|焦臭|胶皮味|塑料味|烧塑料|烧东西的味|电线烧|线烧了|烧坏的味|burning|烧了"
                r"|异味|怪味|臭味|发烫|烫手|好烫|很烫"),
    ("shock", r"触电|漏电|被电|电到|电了一下|电我|麻手|手麻了|电击|带电|外壳有电|机壳有电|打了一下手|静电打|电了手"),
    ("liquid", r"(?:液|水|试剂|血|样本|清洗剂|洗液).{0,8}(?:进|流进|渗进|渗入|溅到|洒到|漏到|倒进|灌进|淌到|滴到|流到)"
               r".{0,4}(?:电路|电路板|主板|线路板|电源|电气|控制板|板子|插座|插线板|接线|电源箱|电机|风扇)"
               r"|(?:电路|电路板|主板|线路板|电源|控制板|插座)(?:板)?.{0,3}(?:进水|进液|湿了|泡水|被水|短路)|短路"),
    ("biohazard", r"生物危害|溢洒|溅洒|泼洒|(?:血|标本|样本|样品|试管|痰|脑脊液|培养物|培养瓶|菌液|阳性).{0,6}"
                  r"(?:洒|溅|泼|打翻|摔碎|摔破|破了|碎了|漏了一地|流了一地|弄了一地|喷)|(?:打翻|摔碎|打碎).{0,6}"
                  r"(?:血|标本|样本|试管|样品)|针刺伤|被.{0,6}针(?:扎|刺)|针扎到手|扎伤|扎到手|扎手|血溅|溅到眼"),
)
_SAFETY_RE = tuple((kind, re.compile(pattern)) for kind, pattern in _SAFETY)
_NEGATION = ("没有", "没", "无", "不是", "未")

_HOTLINE = "立即拨打服务热线（或科室值班电话）报告，并通知科室负责人。已为您紧急转接人工服务。"
SAFETY_MESSAGES: dict[str, str] = {
    "fire": "【安全警示：起火】请立即停止操作，在确保自身安全的前提下切断仪器电源和总电源；"
            "火势无法控制时立即撤离并报警（119），不要用水扑救电气火灾，使用二氧化碳或干粉灭火器。" + _HOTLINE,
    "smoke": "【安全警示：冒烟】请立即停止检测，在确保安全的前提下关闭仪器电源并拔下电源插头；"
             "不要打开机盖查看，人员远离仪器，保持通风，出现明火时立即撤离并报警（119）。" + _HOTLINE,
    "burning": "【安全警示：焦糊味】请立即停止检测，在确保安全的前提下关闭仪器电源并断开电源；"
               "不要继续开机排查，人员远离仪器，保持通风，如出现冒烟或明火立即撤离并报警（119）。" + _HOTLINE,
    "shock": "【安全警示：触电/漏电】不要再接触仪器外壳。先断开总电源（不要徒手拉触电的人），确认断电后再救助；"
             "有人触电时立即呼叫急救，仪器停用并挂牌禁止使用。" + _HOTLINE,
    "liquid": "【安全警示：液体进入电路】请立即停止检测，在确保安全的前提下关闭仪器电源并拔下电源插头；"
              "不要再开机，不要自行擦拭电路板，如液体为血液或样本，按本实验室生物安全程序处理。" + _HOTLINE,
    "biohazard": "【安全警示：生物危害溢洒】请立即停止操作，提醒周围人员远离溢洒区域；"
                 "按本实验室生物安全程序处置：穿戴手套、口罩、护目镜等个人防护，"
                 "用吸水材料覆盖后以有效氯消毒剂由外向内消毒，污染物按医疗废物处理；"
                 "如溅入仪器内部，先关闭仪器电源再处理，如有皮肤黏膜暴露立即冲洗并上报。" + _HOTLINE,
}

_GREETING = re.compile(r"^(?:你好|您好|哈喽|嗨|hi|hello|hey|在吗|在不在|有人吗|早上好|下午好|晚上好|早|老师好|"
                       r"你好啊|您好啊|在么|有人在吗)[\s!！。.~～,，?？呀啊]*$")

# Topics that are not about lab equipment. Only used when the text has no lab vocabulary at all.
_OUT_OF_SCOPE = re.compile(
    r"天气|下雨|下雪|气温|刮风|雾霾|吃饭|午饭|午餐|晚饭|晚餐|早饭|早餐|外卖|食堂|点餐|奶茶|咖啡|股票|股价|基金|彩票|理财|"
    r"汇率|比特币|电影|电视剧|笑话|唱歌|唱首|写诗|写首|放假|假期|工资|奖金|年终|打车|快递|足球|篮球|世界杯|新闻|旅游|"
    r"红包|游戏|八卦|星座|减肥|菜谱|做饭|你是谁|你叫什么|你几岁|机器人吗|谈恋爱|对象|相亲|结婚|火车票|机票|高铁|停车|"
    r"油价|房价|买房|彩礼|考试|高考|作业|翻译一下|讲个故事|手机|充电宝|wifi密码|密码多少|电脑|微信|抖音|淘宝|双十一|"
    r"请假|值班表|排班|报销|发票|挂号|看病|医保|体检|感冒|发烧|咳嗽|头疼|头痛|血压|怀孕|食谱|几点|几号|星期几|日期|时间")
_REPAIR = re.compile(r"坏了|坏掉|报修|修一下|修修|修理|维修|来人|派人|上门|来一趟|过来看|过来一下|来看看|找人修|修好|"
                     r"工程师|售后|不能用了|用不了|停机了|瘫了|罢工")
_REQUEST = re.compile(r"怎么办|怎么处理|怎么弄|怎么解决|咋办|帮忙|帮我|看看|急|救命|处理一下|how|help|求助")


def safety_kind(norm: str) -> str | None:
    """The kind of safety hazard the text describes ("smoke", "fire", ...), or None."""
    for kind, pattern in _SAFETY_RE:
        for m in pattern.finditer(norm):
            before = norm[max(0, m.start() - 2): m.start()]
            if any(before.endswith(neg) for neg in _NEGATION):
                continue  # "没有冒烟" describes the absence of the hazard
            return kind
    return None


def is_greeting(norm: str) -> bool:
    """A bare greeting with nothing else to answer."""
    return bool(_GREETING.match(norm.strip()))


def off_topic(norm: str) -> bool:
    """The text talks about something that is not lab equipment (weather, lunch, stocks, chit-chat)."""
    return bool(_OUT_OF_SCOPE.search(norm))


def repair_intent(norm: str, has_codes: bool) -> bool:
    """The user wants a repair: 坏了, 报修, 来人, or an error code with a request."""
    return bool(_REPAIR.search(norm)) or (has_codes and bool(_REQUEST.search(norm)))
