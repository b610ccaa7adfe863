"""UI texts of the admin console: hospitals, users and verification, gateways, the audit log (cloud/web/admin_*.py)."""

from __future__ import annotations

_ZH: dict[str, str] = {
    # navigation and layout
    "Administration": "系统管理", "Hospitals": "医院", "Users": "用户", "Verification queue": "待审核",
    "Gateways": "网关", "Audit log": "审计日志", "Confirm": "确定", "Cancel": "取消", "Copy": "复制",
    "Copied": "已复制", "Shown this once": "仅显示这一次",
    "Copy it now: it cannot be shown again.": "请立即复制：关闭后无法再次查看。",
    "I have copied it": "我已复制", "Save": "保存", "Saved": "已保存", "Filter": "筛选", "Clear": "清除",
    "Manage": "管理", "Never": "从未", "None": "无", "Not set": "未设置", "Check this value.": "请检查此项。",
    # hospitals
    "New hospital": "新建医院", "Create hospital": "创建医院", "Hospital created": "医院已创建",
    "Hospital name": "医院名称", "Address": "地址", "Departments": "科室", "Geofence": "地理围栏", "Time zone": "时区",
    "Service hotline": "服务热线", "Invite code": "邀请码", "Expired": "已过期", "Valid": "有效", "until": "至",
    "m": "米", "km": "公里", "Radius": "半径", "No hospitals yet.": "暂无医院。", "Aliases for search": "搜索别名",
    "One per line or separated by commas: short names, pinyin, initials": "每行一个或用逗号分隔：简称、拼音、首字母",
    "e.g. 400-820-1234": "例如 400-820-1234",
    "Reporting by hospital works only inside this circle.": "按医院报修仅限在此范围内使用。",
    "Latitude": "纬度", "Longitude": "经度", "Radius (m)": "半径（米）", "Check my location": "检查我的位置",
    "Use my location as the centre": "以我的位置为中心", "Finding your location…": "正在获取位置…",
    "Location is not available: allow it in the browser, or type the coordinates.":
        "无法获取位置：请在浏览器中允许定位，或手动输入坐标。",
    "Your position": "您的位置", "Distance to the geofence centre": "距围栏中心",
    "inside the geofence": "在围栏内", "outside the geofence": "在围栏外",
    "Centre set to your position; save to keep it.": "已将中心设为您的位置，保存后生效。",
    "Rename": "重命名", "Remove": "删除", "Remove the department": "删除科室", "In use": "使用中",
    "devices and groups": "台设备及设备组", "No departments yet.": "暂无科室。", "New department": "新科室",
    "New department, e.g. 检验科": "新科室名称，如 检验科", "Add department": "添加科室",
    "Department added": "科室已添加", "Department removed": "科室已删除",
    "Give the department a name.": "请填写科室名称。",
    "This hospital already has a department with this name.": "该医院已有同名科室。",
    "Only an empty department can be removed: move its devices and groups first.":
        "只能删除空科室：请先移走其中的设备和设备组。",
    "Lab users who enter it are verified for this hospital at once.": "检验科用户输入邀请码即可立即完成本院认证。",
    "Current code": "当前邀请码", "Valid until": "有效期至", "No expiry": "长期有效",
    "No invite code: new lab users wait in the verification queue.": "未设置邀请码：新注册用户需等待管理员审核。",
    "Issue a new code? The current code stops working at once.": "生成新邀请码？当前邀请码将立即失效。",
    "Issue new code": "生成新邀请码", "Generate code": "生成邀请码", "Valid for": "有效期", "days": "天",
    "Withdraw the invite code? New lab users will wait for approval.": "停用邀请码？新注册用户将需要管理员审核。",
    "Withdraw": "停用", "Withdraw code": "停用邀请码", "Invite code withdrawn": "邀请码已停用",
    "New invite code issued; the old one no longer works.": "已生成新邀请码，旧邀请码已失效。",
    "Choose how long the code is valid.": "请选择邀请码有效期。",
    "A hospital with this name already exists.": "已存在同名医院。",
    "Give a name (up to 200 characters).": "请填写名称（最多 200 字）。",
    "Latitude is a number from -90 to 90.": "纬度应为 -90 到 90 之间的数字。",
    "Longitude is a number from -180 to 180.": "经度应为 -180 到 180 之间的数字。",
    "The radius is a whole number of metres from 10 to 50000.": "半径应为 10 到 50000 之间的整数（米）。",
    "Unknown time zone.": "未知的时区。",
    "The hotline is a phone number: digits, spaces, '-' and an optional leading '+'.":
        "服务热线应为电话号码：数字、空格、“-”，可以“+”开头。",
    "The address is up to 400 characters.": "地址最多 400 字。",
    "Each alias is up to 200 characters.": "每个别名最多 200 字。",
    "Give both latitude and longitude, or neither.": "纬度和经度需同时填写或同时留空。",
    "tz.Asia/Shanghai": "北京时间（UTC+8）", "tz.Asia/Urumqi": "新疆时间（UTC+6）",
    "tz.Asia/Hong_Kong": "香港（UTC+8）", "tz.Asia/Macau": "澳门（UTC+8）", "tz.Asia/Taipei": "台北（UTC+8）",
    "tz.Asia/Singapore": "新加坡（UTC+8）", "tz.Asia/Tokyo": "东京（UTC+9）", "tz.Asia/Seoul": "首尔（UTC+9）",
    "tz.Asia/Bangkok": "曼谷（UTC+7）", "tz.Asia/Dubai": "迪拜（UTC+4）", "tz.Europe/London": "伦敦",
    "tz.Europe/Berlin": "柏林", "tz.America/New_York": "纽约", "tz.America/Los_Angeles": "洛杉矶",
    "tz.UTC": "协调世界时（UTC）",
    # users
    "New user": "新建用户", "Create user": "创建用户", "Account": "账号", "Username": "用户名", "Password": "密码",
    "Full name": "姓名", "Phone": "电话", "Role": "角色", "Verification": "认证", "Created on": "创建时间",
    "Username, name or phone": "用户名、姓名或电话", "All roles": "全部角色", "Enabled and disabled": "全部账号",
    "Enabled": "已启用", "Disabled": "已停用", "Any verification": "全部认证状态",
    "No users match.": "没有符合条件的用户。",
    "role.admin": "管理员", "role.agent": "客服", "role.service_center": "远程服务中心", "role.engineer": "工程师",
    "role.lab_user": "检验科用户", "verification.verified": "已认证", "verification.unverified": "待认证",
    "Leave empty to generate a one-time password": "留空则生成一次性密码",
    "Capacity (open tickets)": "接单上限（在办工单）", "Empty: the default": "留空为默认值",
    "Hospitals served (none: all)": "服务的医院（不选为全部）",
    "Device categories (none: all)": "擅长的设备类别（不选为全部）",
    "Actions": "操作", "Approve": "通过", "Approved": "已通过", "Reject": "驳回", "Reject…": "驳回…",
    "Rejected": "已驳回",
    "Reset password": "重置密码", "Reset the password of": "重置以下账号的密码：",
    "The current password stops working and the account is signed out.": "原密码将失效，该账号会被强制退出登录。",
    "Disable": "停用", "Disable account": "停用账号", "Enable account": "启用账号",
    "They are signed out and cannot sign in until enabled again.": "该账号将被退出登录，重新启用前无法登录。",
    "Account enabled": "账号已启用", "Account disabled": "账号已停用", "Verified": "认证时间",
    "History in the audit log": "在审计日志中查看记录", "Account created": "账号已创建",
    "Account created. Give the person this one-time password:": "账号已创建。请将此一次性密码告知本人：",
    "Password reset; the account was signed out everywhere. Give the person this password:":
        "密码已重置，该账号已在所有设备上退出。请将此密码告知本人：",
    "A username is 3 to 100 letters, digits, '.', '_', '@' or '-'.": "用户名为 3–100 位字母、数字或 . _ @ -。",
    "A password has at least 8 characters.": "密码至少 8 位。", "Choose a role.": "请选择角色。",
    "A lab user belongs to a hospital: choose it.": "检验科用户须属于一家医院，请选择医院。",
    "Capacity is a whole number from 0 to 1000.": "接单上限应为 0 到 1000 之间的整数。",
    "This username is taken.": "该用户名已被使用。", "Check the hospital and categories.": "请检查医院和设备类别。",
    "You cannot take the admin role from your own account.": "不能取消自己账号的管理员角色。",
    "You cannot disable your own account.": "不能停用自己的账号。",
    "Lab users who registered without a valid invite code. Approve those you know work at the hospital.":
        "未使用有效邀请码注册的检验科用户。请确认其确在该院工作后再通过。",
    "Registered": "注册时间", "Decision": "审核", "Reason": "原因", "Reason (required to reject)": "驳回原因（必填）",
    "The account is disabled.": "该账号将被停用。", "Nobody is waiting for verification.": "目前没有待审核的用户。",
    "Invite codes": "邀请码",
    "With a valid code lab users are verified at once.": "使用有效邀请码的用户会立即通过认证。",
    "Give a reason for the rejection.": "请填写驳回原因。",
    "This account is not waiting for verification.": "该账号不在待审核状态。",
    "This invite code has expired. Ask your hospital for the new one, or ask an admin to approve you.":
        "邀请码已过期。请向医院索取新的邀请码，或改为由管理员审核。",
    # my devices from the hospital's list (defect 13)
    "Add devices": "添加我的设备", "Tick the devices you look after; they appear under My devices.":
        "勾选您负责的设备，它们会出现在“我的设备”中。", "Model, serial or number": "型号、序列号或编号",
    "No department": "未分科室", "S/N": "序列号", "Add from the hospital's list": "从本院设备中添加",
    "Tick the devices to add.": "请勾选要添加的设备。", "Added to my devices": "已加入我的设备",
    "A ticked device is not in your hospital; nothing was added.": "所选设备不属于您的医院，未添加任何设备。",
    # gateways
    "Gateway": "网关", "Gateway ID": "网关 ID", "Last contact": "最近联系", "Last data": "最近数据",
    "Token issued": "令牌签发时间", "Unmapped keys": "未映射设备键", "Times are in each hospital's time zone.":
        "时间按各医院所在时区显示。", "No gateways yet.": "暂无网关。", "Register a gateway": "注册网关",
    "The token is shown once; put it in the gateway's configuration.": "令牌只显示一次，请填入网关配置。",
    "e.g. rj-lab-1 (letters, digits, . _ -)": "例如 rj-lab-1（字母、数字、. _ -）", "Register": "注册",
    "gateway.online": "在线", "gateway.offline": "离线", "gateway.unknown": "未上报状态",
    "Status reported": "状态上报时间", "Rotate token": "更换令牌",
    "Issue a new token? The gateway stops uploading until its configuration has the new token.":
        "更换令牌？网关在配置新令牌前将无法上传数据。",
    "Device keys": "设备键映射", "What the gateway calls each analyzer, and the registry device it is.":
        "网关对每台仪器的称呼，以及对应的登记设备。",
    "Device key": "设备键", "Data waiting": "待归属数据", "First seen": "首次出现", "Last seen": "最近出现",
    "Unmapped": "未映射", "readings": "条读数", "events": "条事件", "Unmap": "取消映射", "Map": "映射",
    "Choose a device": "选择设备", "Stored data stays with the device; new data waits unmapped.":
        "已存数据仍归属该设备；此后的新数据将等待重新映射。",
    "The gateway has reported no device keys yet.": "该网关尚未上报任何设备键。",
    "Map a key in advance, e.g. c702-1": "预先映射设备键，如 c702-1",
    "Gateway registered. Put this token in the gateway's configuration:": "网关已注册。请将此令牌填入网关配置：",
    "New token issued; the old one no longer works. Put this token in the gateway's configuration:":
        "已签发新令牌，旧令牌已失效。请将此令牌填入网关配置：",
    "A gateway with this name already exists.": "已存在同名网关。",
    "A gateway name is 1 to 64 letters, digits, '.', '_' or '-'.": "网关 ID 为 1–64 位字母、数字或 . _ -。",
    "Choose the hospital the gateway sits in.": "请选择网关所在医院。",
    "Choose the device this key stands for.": "请选择该设备键对应的设备。",
    "Choose a device of the gateway's hospital.": "请选择网关所在医院的设备。",
    "Mapped; the waiting data now belongs to the device.": "已映射，待归属数据已归入该设备。",
    "This key is not mapped.": "该设备键尚未映射。", "Mapping removed": "已取消映射",
    # audit log
    "Actor": "操作人", "Actor (username)": "操作人（用户名）", "Record type": "对象类型",
    "All record types": "全部对象",
    "Action": "操作", "All actions": "全部操作", "From": "从", "To": "到", "Time": "时间", "Record": "对象",
    "Changes": "变更", "fields": "项", "No audit entries match.": "没有符合条件的记录。",
    "A time could not be read and was ignored.": "有时间无法识别，已忽略。",
    "Times are in the record's hospital time zone (Beijing time when none).":
        "时间按记录所属医院的时区显示（无医院时为北京时间）。",
    "entity.alert": "告警", "entity.alert_policy": "告警策略", "entity.department": "科室", "entity.device": "设备",
    "entity.device_claim": "我的设备", "entity.device_group": "设备组", "entity.gateway": "网关",
    "entity.hospital": "医院", "entity.kb_entry": "知识库条目", "entity.kb_manual": "手册",
    "entity.maintenance_window": "维护窗口", "entity.precheck_item": "预检项", "entity.precheck_task": "预检",
    "entity.qr_code": "二维码", "entity.service_group_request": "服务群申请", "entity.ticket": "工单",
    "entity.user": "用户", "entity.wechat_account": "微信账号",
    "audit.create": "创建", "audit.update": "修改", "audit.delete": "删除", "audit.imported": "导入",
    "audit.import": "导入", "audit.submit": "提交", "audit.issue": "签发", "audit.verify": "认证通过",
    "audit.reject": "驳回认证", "audit.map_device": "映射设备", "audit.unmap_device": "取消映射",
    "audit.claim": "加入我的设备", "audit.unclaim": "移出我的设备", "audit.split": "拆分", "audit.merge": "合并",
    "audit.combine": "组合", "audit.rotate_token": "更换令牌", "audit.rotate_invite_code": "更换邀请码",
    "audit.revoke_invite_code": "停用邀请码", "audit.revoke": "撤销", "audit.retired": "报废",
    "audit.resolve": "解决", "audit.reset_password": "重置密码", "audit.request": "申请", "audit.reorder": "调整顺序",
    "audit.reoffer": "重新推送", "audit.remove_member": "移除成员", "audit.add_member": "添加成员",
    "audit.reissue": "补发", "audit.photo_removed": "删除照片", "audit.photo_added": "添加照片",
    "audit.overdue": "超时", "audit.open": "打开", "audit.learned": "学习", "audit.geofence_refused": "围栏外被拒",
    "audit.finish": "完成", "audit.false_alarm": "误报", "audit.extend": "延长", "audit.edited": "编辑",
    "audit.answer": "答复", "audit.acknowledge": "确认",
    "actor.system": "系统", "actor.cli": "命令行", "actor.demo": "演示数据", "actor.demo-seed": "演示数据",
    "actor.identify": "识别服务", "actor.predictive": "预测性维护", "actor.report-by-id": "按编号报修",
    "actor.reporter-link": "报修链接", "actor.self-registration": "自助注册", "actor.sla-timer": "时限计时器",
    "actor.wechat-qr": "微信二维码", "actor.wechat-sandbox": "微信沙盒", "actor.wechat-signin": "微信登录",
    "field.name": "名称", "field.aliases": "别名", "field.address": "地址", "field.latitude": "纬度",
    "field.longitude": "经度", "field.geofence_radius_m": "围栏半径（米）", "field.invite_code_set": "已设邀请码",
    "field.invite_code_expires_at": "邀请码有效期", "field.time_zone": "时区", "field.hotline": "服务热线",
    "field.username": "用户名", "field.full_name": "姓名", "field.phone": "电话", "field.role": "角色",
    "field.hospital_id": "医院", "field.verification": "认证", "field.is_active": "启用", "field.capacity": "接单上限",
    "field.service_hospital_ids": "服务医院", "field.categories": "设备类别", "field.reason": "原因",
    "field.device_key": "设备键", "field.device_id": "设备", "field.system_number": "系统编号",
    "field.serial": "序列号", "field.manufacturer": "厂家", "field.model": "型号", "field.category": "类别",
    "field.department_id": "科室", "field.status": "状态", "field.group_id": "设备组", "field.photos": "照片",
    "field.keywords": "关键词", "field.is_key": "重点设备", "field.maintenance_score": "维保评分",
    "field.group_position": "组内位置", "field.install_date": "安装日期", "field.warranty_end": "保修截止",
}

_EN: dict[str, str] = {
    "role.admin": "Admin", "role.agent": "Service desk agent", "role.service_center": "Remote service centre",
    "role.engineer": "Engineer", "role.lab_user": "Lab user", "verification.verified": "Verified",
    "verification.unverified": "Awaiting verification", "gateway.online": "Online", "gateway.offline": "Offline",
    "gateway.unknown": "No status reported",
    "tz.Asia/Shanghai": "China (UTC+8)", "tz.Asia/Urumqi": "Xinjiang (UTC+6)", "tz.Asia/Hong_Kong": "Hong Kong (UTC+8)",
    "tz.Asia/Macau": "Macau (UTC+8)", "tz.Asia/Taipei": "Taipei (UTC+8)", "tz.Asia/Singapore": "Singapore (UTC+8)",
    "tz.Asia/Tokyo": "Tokyo (UTC+9)", "tz.Asia/Seoul": "Seoul (UTC+9)", "tz.Asia/Bangkok": "Bangkok (UTC+7)",
    "tz.Asia/Dubai": "Dubai (UTC+4)", "tz.Europe/London": "London", "tz.Europe/Berlin": "Berlin",
    "tz.America/New_York": "New York", "tz.America/Los_Angeles": "Los Angeles", "tz.UTC": "UTC",
    "m": "m", "km": "km", "devices and groups": "devices and groups",
}

TEXTS: dict[str, dict[str, str]] = {"zh-CN": _ZH, "en": _EN}


def _english_labels() -> None:
    # Dotted keys (entity.device, audit.map_device, field.hotline, actor.cli) read as plain words in English.
    for key in _ZH:
        prefix, _, rest = key.partition(".")
        if prefix in ("entity", "audit", "field", "actor") and rest and key not in _EN:
            _EN[key] = rest.replace("_", " ").replace("-", " ").capitalize()


_english_labels()
