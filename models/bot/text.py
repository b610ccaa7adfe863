"""Chinese-first text handling: normalisation, device models and fault codes, synonyms, words and bigrams."""

from __future__ import annotations

import logging
import re
import threading
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field

import jieba

# Brand and series words carry no information about which analyzer is meant once the model number is read.
_BRANDS = ("roche", "cobas", "sysmex", "beckman coulter", "beckman", "coulter", "abbott", "architect", "mindray",
           "horiba", "radiometer", "bio-rad", "biorad", "siemens healthineers", "siemens", "cepheid", "flex plus",
           "flex", "plus", "罗氏", "希森美康", "贝克曼", "雅培", "迈瑞", "堀场", "雷度", "伯乐", "西门子", "赛沛")

# Models whose names are words rather than letter+number: alias (normalised text) → model key.
_WORD_MODELS = {
    "genexpert": "genexpert", "gene xpert": "genexpert", "xpert": "genexpert", "genexpert iv": "genexpert",
    "genexpert4": "genexpert", "gx": "genexpert",
    "pentra": "pentraxlr", "pentra xlr": "pentraxlr", "dca": "dcavantage", "dca vantage": "dcavantage",
    "abl 90": "abl90", "abl90": "abl90", "abl": "abl90",
}

# A maker's name stands for its models when no model is named ("雅培那台" = the ARCHITECT).
_ROCHE = ("c702", "c502", "e801", "8100", "c311", "c111")
_SYSMEX = ("xn1000", "xn550", "xn10", "cs5100", "sp50")
BRAND_MODELS: dict[str, tuple[str, ...]] = {
    "雅培": ("i2000sr",), "abbott": ("i2000sr",), "architect": ("i2000sr",),
    "迈瑞": ("bs2000m",), "mindray": ("bs2000m",), "贝克曼": ("au5800",), "beckman": ("au5800",),
    "堀场": ("pentraxlr",), "horiba": ("pentraxlr",), "雷度": ("abl90",), "radiometer": ("abl90",),
    "伯乐": ("d100",), "bio-rad": ("d100",), "biorad": ("d100",), "西门子": ("dcavantage",),
    "siemens": ("dcavantage",), "赛沛": ("genexpert",), "cepheid": ("genexpert",),
    "希森美康": _SYSMEX, "sysmex": _SYSMEX, "罗氏": _ROCHE, "roche": _ROCHE, "cobas": _ROCHE,
}
_BRAND_RE = re.compile("|".join(re.escape(b) for b in sorted(BRAND_MODELS, key=len, reverse=True)))

# Words that name the kind of analyzer: the device category the question is about.
CATEGORY_WORDS: tuple[tuple[str, str], ...] = (
    ("血球", "hematology"), ("血常规", "hematology"), ("血细胞", "hematology"), ("推片", "hematology"),
    ("生化", "chemistry"), ("电解质", "chemistry"), ("凝血", "coagulation"), ("免疫", "immunoassay"),
    ("发光", "immunoassay"), ("血气", "blood_gas"), ("核酸", "molecular"), ("pcr", "molecular"),
    ("流水线", "automation"), ("轨道", "automation"), ("糖化", "other"),
    ("alt", "chemistry"), ("ast", "chemistry"), ("肌酐", "chemistry"), ("尿素", "chemistry"), ("血糖", "chemistry"),
    ("胆红素", "chemistry"), ("甘油三酯", "chemistry"), ("胆固醇", "chemistry"), ("白细胞", "hematology"),
    ("红细胞", "hematology"), ("血小板", "hematology"), ("pt", "coagulation"), ("aptt", "coagulation"),
)

# Synonyms of lab-analyzer vocabulary: canonical word first, then what people also say.
SYNONYMS: tuple[tuple[str, ...], ...] = (
    ("孵育盘", "反应盘", "孵育转盘", "反应转盘"),
    ("样本针", "s针", "加样针", "采样针", "吸样针", "取样针", "标本针", "样品针", "样针"),
    ("试剂针", "r针", "加试剂针", "吸试剂针", "试剂探针"),
    ("比色杯", "反应杯", "测定杯", "杯子", "比色皿"),
    ("清洗液", "洗液", "清洁液", "冲洗液", "清洗剂"),
    ("报警", "报错", "告警", "警报", "报故障", "报了个错", "出错", "错误提示", "报个错", "弹报警", "一直叫",
     "响个不停"),
    ("堵塞", "堵了", "堵住", "阻塞", "堵针", "针堵"),
    ("撞针", "针碰撞", "碰针", "针撞", "撞到", "怼到", "怼上", "顶到"),
    ("光源灯", "灯泡", "卤素灯", "光源", "氙灯"),
    ("定标", "校准", "校正", "标定", "calibration"),
    ("质控失控", "失控", "超控", "质控不在控", "质控不过", "质控没过", "质控超", "质控失败", "qc失控", "qc没过"),
    ("质控", "qc", "室内质控"),
    ("条码", "条形码", "barcode", "二维码"),
    ("读码", "扫码", "扫条码", "识别条码", "读条码", "扫不出", "扫不上", "读不出"),
    ("通讯", "通信", "联网", "连不上lis", "传不上", "传不过去", "上传不了", "回传", "传输", "接口"),
    ("废液桶", "废液瓶", "废液罐", "废水桶", "废液箱"),
    ("废液", "废水"),
    ("纯水", "去离子水", "蒸馏水", "水机", "纯水机", "di水"),
    ("试剂不足", "试剂没了", "试剂用完", "缺试剂", "试剂空了", "试剂余量不足", "没试剂"),
    ("无法开机", "开不了机", "开不开机", "开不起来", "启动不了", "起不来", "不开机", "打不开机", "不启动", "仪器打不开",
     "机器打不开", "开机失败", "启动失败"),
    ("死机", "卡死", "卡住不动", "不动了", "卡住了", "假死", "无响应", "没响应"),
    ("ise", "离子选择电极", "电解质模块"),
    ("电解质", "钾钠氯", "钾钠"),
    ("凝血", "血凝"),
    ("凝块", "血块", "clot", "凝了"),
    ("管路", "管子", "管道", "软管"),
    ("气泡", "泡泡", "有泡"),
    ("温度", "温控", "恒温", "水浴温度"),
    ("打印机", "打印"),
    ("吸样失败", "吸样错误", "吸样报错", "吸不进", "吸不上血", "吸样异常", "aspiration error"),
    ("吸样不足", "吸不上样", "吸不到样", "样本量不足", "样本不够", "短样"),
    ("吸头", "枪头", "tips", "tip"),
    ("用完", "用光了", "用光", "耗尽", "用没了"),
    ("过期", "到期", "失效", "超过有效期"),
    ("本底", "空白计数", "背景计数", "空白检查", "本底计数"),
    ("装不进", "装不上", "放不进", "插不进", "放不进去", "装不进去"),
    ("中止", "测到一半停了", "做到一半停了", "跑到一半停了", "做一半停了"),
    ("试剂仓", "试剂盘", "试剂冷藏", "试剂舱"),
    ("废料", "垃圾"),
    ("蠕动泵", "泵管"),
    ("漂移", "不稳", "跳来跳去"),
    ("偏高", "高了", "偏大", "太高"),
    ("偏低", "低了", "偏小", "太低"),
    ("更换", "换新", "换一个", "换掉"),
    ("卡管", "卡试管", "试管卡住", "卡样本", "卡架"),
    ("试管架", "样本架", "架子", "rack"),
)

# Colloquial forms written the standard way before anything else happens.
_COLLOQUIAL = (("咋整", "怎么办"), ("咋办", "怎么办"), ("咋", "怎么"), ("啥", "什么"), ("木有", "没有"),
               ("没得", "没有"), ("肿么", "怎么"), ("神马", "什么"), ("嘛", "吗"), ("滴", "的"))

STOPWORDS = frozenset((
    " 的 了 吗 呢 啊 吧 呀 哦 嗯 么 哈 啦 喔 嘞 怎么 怎么办 怎样 如何 什么 为什么"
    " 为啥 请问 老师 你好 您好 一下 这个 那个 这 那 是 有 没 没有 不 在 我 我们 你"
    " 您 他 她 它 就 都 也 还 又 要 会 能 可以 应该 一直 老是 总是 突然 今天 刚才"
    " 刚刚 现在 出现 显示 提示 报 做 几次 好几次 办 处理 解决 问题 情况 机器 仪器 设备"
    " 台 个 下 好 得 着 过 把 被 让 给 和 跟 与 及 或 但 但是 然后 所以 因为 如果"
    " 后 里 上 中 时 时候 一个 这样 那样 怎么回事 回事 咋回事 帮忙 帮 看看 看 谢谢"
    " 麻烦 请 一 次 又是 总 老 已经 还是 就是 是不是 不是 呃 怎么样 cobas"
    " roche sysmex beckman abbott architect mindray"
    " horiba radiometer siemens cepheid 罗氏 希森美康 贝克曼 雅培"
    " 迈瑞 啥子 咋个 搞 弄 整 该 需要 知道 想 问 下子 时不时 经常 偶尔 好像 感觉 有点"
    " 一点 比较 非常 特别 很 太 吧 么样"
).split())

_PUNCT = re.compile(r"[\s,.!?;:'\"()\[\]{}<>/\\|`~@#$%^&*+=，。！？；：、“”‘’（）【】《》…·—\-_]+")
_CODE = re.compile(r"(?<![a-z0-9])([a-z]{1,3})[ \-_]?(\d{2,5})(?![0-9])")
_DIGIT_CODE = re.compile(r"(?<![0-9.a-z])(\d{3,5})(?![0-9.])")
_CODE_CUE = re.compile(r"报警|代码|错误|报错|告警|故障码|提示|code|alarm|err|error|编号")
_PART_SUFFIX = re.compile(r"[\u4e00-\u9fff]{1,3}(?:针|杯|盘|泵|灯|阀|桶|仓|槽|电极|模块|探头|传感器|注射器|搅拌棒)")
HAN = re.compile(r"[\u4e00-\u9fff]")
_HAN = HAN
_DOMAIN_WORDS = (
    "样本针", "试剂针", "比色杯", "孵育盘", "清洗液", "废液桶", "光源灯", "定标", "质控失控", "条码",
    "读码", "通讯", "电极", "搅拌棒", "蠕动泵", "注射器", "混匀", "吸样不足", "撞针", "液面检测",
    "真空泵", "光度计", "试剂仓", "反应槽", "水浴", "稀释", "溶血", "凝块", "气泡", "堵塞", "试剂不足",
    "无法开机", "死机", "质控", "纯水", "废液", "管路", "电解质", "凝血", "试管架", "卡管", "打印机",
    "更换", "漂移", "偏高", "偏低", "温度", "报警", "条码器", "进样", "轨道", "离心机", "开盖", "加样",
    "冲洗", "校准品", "试剂盒", "卡匣", "芯片", "比色", "空白", "吸光度", "线性", "携带污染",
    "交叉污染", "急诊", "样本", "试剂",
)


def _nfkc(text: str) -> str:
    """Full-width to half-width, lower case, one space between things."""
    return unicodedata.normalize("NFKC", text).lower()


def model_key(model: str) -> str:
    """The comparable key of a device model: "cobas c 702", "C702", "c-702" → "c702"; "XN-10 (B4)" → "xn10"."""
    text = re.sub(r"\(.*?\)", " ", _nfkc(model))
    for brand in _BRANDS:
        text = text.replace(brand, " ")
    text = text.strip()
    if text in _WORD_MODELS:
        return _WORD_MODELS[text]
    return re.sub(r"[^a-z0-9]", "", text)


def code_key(code: str) -> str:
    """The comparable key of a fault code: "E-32", "e 32", "E32" → "e32"; "1202" → "1202"."""
    return re.sub(r"[^a-z0-9]", "", _nfkc(code))


def code_display(key: str) -> str:
    """A code key written the normal way: "e32" → "E-32", "1202" → "1202"."""
    m = re.fullmatch(r"([a-z]+)(\d+)", key)
    return f"{m.group(1).upper()}-{m.group(2)}" if m else key.upper()


def _alias_pattern(key: str) -> str:
    """A regex that finds a model key written with or without spaces or dashes between its parts."""
    parts = re.findall(r"[a-z]+|\d+", key)
    return r"[ \-_]?".join(re.escape(p) for p in parts)


@dataclass
class Vocabulary:
    """What the indexed KB teaches the tokenizer: its models, codes and part words."""

    models: dict[str, str] = field(default_factory=dict)  # alias key → model key
    codes: set[str] = field(default_factory=set)
    _numbers: dict[str, set[str]] = field(default_factory=dict)
    _model_re: re.Pattern[str] | None = None
    _alias_map: dict[str, tuple[str, ...]] = field(default_factory=dict)
    _fp: tuple[int, int] | None = None

    def add_model(self, model: str) -> str:
        """Teach a model (and its short forms); returns its key."""
        key = model_key(model)
        if not key:
            return key
        self.models[key] = key
        m = re.fullmatch(r"([a-z]+\d+)([a-z]+)", key)  # "i2000sr" → also "i2000", "bs2000m" → "bs2000"
        if m and len(m.group(2)) <= 2:
            self.models.setdefault(m.group(1), key)
        number = re.fullmatch(r"[a-z]*(\d{3,5})[a-z]*", key)
        if number and number.group(1) != key and int(number.group(1)) % 1000 and int(number.group(1)) > 100:
            # "702" alone means the c 702, unless two models share the number ("2000" → i2000SR or BS-2000M?)
            self._numbers.setdefault(number.group(1), set()).add(key)
        self._model_re = None
        self._fp = None
        return key

    def _aliases(self) -> dict[str, tuple[str, ...]]:
        out: dict[str, tuple[str, ...]] = {alias: (key,) for alias, key in self.models.items()}
        for num, keys in self._numbers.items():
            if len(keys) == 1 and num not in self.codes:
                out.setdefault(num, tuple(keys))
        families: dict[str, set[str]] = {}
        for key in set(self.models.values()):
            m = re.match(r"([a-z]{2,3})\d", key)
            if m:
                families.setdefault(m.group(1), set()).add(key)
        for fam, members in families.items():  # "XN" alone means any XN the KB knows
            out.setdefault(fam, tuple(sorted(members)))
        return out

    def fingerprint(self) -> int:
        """Changes whenever the models or codes taught change (analyses depend on them)."""
        if self._fp is None or self._fp[0] != len(self.codes):
            self._fp = (len(self.codes), hash((frozenset(self.models.items()), frozenset(self.codes))))
        return self._fp[1]

    def model_re(self) -> re.Pattern[str]:
        """One regex over every known model alias, longest first."""
        if self._model_re is None:
            self._alias_map = self._aliases()
            aliases = sorted(set(self._alias_map) | set(_WORD_MODELS), key=len, reverse=True)
            pats = [re.escape(a) if a in _WORD_MODELS else _alias_pattern(a) for a in aliases]
            self._model_re = re.compile(r"(?<![a-z0-9])(?:" + "|".join(pats or ["(?!)"]) + r")(?![0-9a-z])")
        return self._model_re

    def resolve(self, alias: str) -> tuple[str, ...]:
        """Model keys of a matched alias (a family name like "xn" stands for several)."""
        compact = re.sub(r"[^a-z0-9 ]", "", alias).strip()
        if compact in _WORD_MODELS:
            return (_WORD_MODELS[compact],)
        flat = re.sub(r"[ _]", "", compact)
        return self._alias_map.get(flat) or ((_WORD_MODELS.get(flat, flat)),)


@dataclass(frozen=True)
class Analysed:
    """A text taken apart: word terms, character bigrams, models and codes it names."""

    words: tuple[str, ...]
    bigrams: tuple[str, ...]
    models: tuple[str, ...]
    codes: tuple[str, ...]
    norm: str
    brand_models: tuple[str, ...] = ()
    category: str | None = None


_SYN_MAP: dict[str, str] = {}
for _group in SYNONYMS:
    for _word in _group:
        _SYN_MAP.setdefault(_word, _group[0])
_SYN_RE = re.compile("|".join(re.escape(w) for w in sorted(_SYN_MAP, key=len, reverse=True)))
_COLLOQ_RE = re.compile("|".join(re.escape(a) for a, _ in _COLLOQUIAL))
_COLLOQ_MAP = dict(_COLLOQUIAL)

_lock = threading.Lock()
_CACHE_SIZE = 20000
_cache: dict[tuple[str, int, int, bool], Analysed] = {}
_tokenizer: jieba.Tokenizer | None = None
_added: set[str] = set()


def tokenizer() -> jieba.Tokenizer:
    """The one jieba tokenizer, initialised once, quietly, with the domain words."""
    global _tokenizer
    if _tokenizer is None:
        with _lock:
            if _tokenizer is None:
                jieba.setLogLevel(logging.WARNING)
                tok = jieba.Tokenizer()
                tok.initialize()
                for word in {*_SYN_MAP.values(), *_DOMAIN_WORDS}:
                    tok.add_word(word, freq=20000)
                _tokenizer = tok
    return _tokenizer


def add_words(words: Iterable[str]) -> None:
    """Teach the tokenizer domain words found in the KB (part names)."""
    tok = tokenizer()
    with _lock:
        for word in words:
            if word not in _added and _HAN.search(word):
                _added.add(word)
                tok.add_word(word, freq=5000)


def part_words(text: str) -> set[str]:
    """Part names in a KB text: short Chinese words ending in 针, 杯, 泵, 阀, 电极 ..."""
    return {m.group(0) for m in _PART_SUFFIX.finditer(_nfkc(text)) if len(m.group(0)) <= 5}


def normalise(text: str) -> str:
    """Half-width, lower case, colloquial forms and synonyms written the canonical way."""
    text = _nfkc(text)
    text = _COLLOQ_RE.sub(lambda m: _COLLOQ_MAP[m.group(0)], text)
    return _SYN_RE.sub(lambda m: _SYN_MAP[m.group(0)], text)


def analyse(text: str, vocab: Vocabulary, *, hmm: bool = True) -> Analysed:
    """Take a text apart into terms for retrieval (words, bigrams, model and code keys); cached.

    hmm=False skips jieba's guessing of unknown words: for long answer texts, where it costs time and the
    bigrams already cover what it would find.
    """
    key = (text, vocab.fingerprint(), len(_added), hmm)
    hit = _cache.get(key)
    if hit is None:
        hit = _analyse(text, vocab, hmm)
        if len(_cache) >= _CACHE_SIZE:
            _cache.clear()  # a rebuild re-reads the same texts; a full clear now and then is simpler than LRU
        _cache[key] = hit
    return hit


def clear_cache() -> None:
    """Forget cached analyses (benchmarks measure cold indexing)."""
    _cache.clear()


def _analyse(text: str, vocab: Vocabulary, hmm: bool) -> Analysed:
    norm = normalise(text)
    models: list[str] = []

    def _model(m: re.Match[str]) -> str:
        models.extend(vocab.resolve(m.group(0)))
        return " "

    rest = vocab.model_re().sub(_model, norm)
    codes: list[str] = []

    def _code(m: re.Match[str]) -> str:
        codes.append(m.group(1) + m.group(2))
        return " "

    rest = _CODE.sub(_code, rest)

    def _digits(m: re.Match[str]) -> str:
        key = m.group(1)
        window = rest[max(0, m.start() - 6): m.end() + 6]
        if key in vocab.codes or _CODE_CUE.search(window):
            codes.append(key)
            return " "
        return m.group(0)

    rest = _DIGIT_CODE.sub(_digits, rest)
    words: list[str] = []
    bigrams: list[str] = []
    run = ""
    tok_ = tokenizer()
    freq = tok_.FREQ
    # One jieba call per text (punctuation turned into spaces, which then end a run of characters).
    for tok in tok_.lcut(_PUNCT.sub(" ", rest), HMM=hmm):
        tok = tok.strip()
        han = bool(tok) and _HAN.match(tok) is not None
        if not tok or tok in STOPWORDS or not han:
            if len(run) > 1:
                bigrams.extend(run[i:i + 2] for i in range(len(run) - 1))
            run = ""
            if tok and tok not in STOPWORDS:
                words.append(tok)
            continue
        words.append(tok)
        run += tok
        if len(tok) > 2:
            # the dictionary words inside a long word too ("液面检测" also gives "液面", "检测"), as jieba's
            # search mode does, so a query naming a part of a compound still matches
            for n in (2, 3):
                words.extend(g for i in range(len(tok) - n + 1)
                             if (g := tok[i:i + n]) != tok and freq.get(g) and g not in STOPWORDS)
    if len(run) > 1:
        bigrams.extend(run[i:i + 2] for i in range(len(run) - 1))
    brands = [k for m in _BRAND_RE.finditer(norm) for k in BRAND_MODELS[m.group(0)] if k in vocab.models]
    category = next((cat for word, cat in CATEGORY_WORDS if word in norm), None)
    return Analysed(words=tuple(words), bigrams=tuple(bigrams), models=tuple(dict.fromkeys(models)),
                    codes=tuple(dict.fromkeys(codes)), norm=norm, brand_models=tuple(dict.fromkeys(brands)),
                    category=category)


_DOMAIN = frozenset({*_DOMAIN_WORDS, *_SYN_MAP.values(), *(w for w, _ in CATEGORY_WORDS)}) - STOPWORDS


def is_domain_word(word: str) -> bool:
    """A word of lab-equipment talk (parts, alarms, reagents, analyzer kinds)."""
    return word in _DOMAIN or word in _added
