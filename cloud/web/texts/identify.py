"""UI texts of the identify pages and messages (zh-CN first)."""

from __future__ import annotations

TEXTS: dict[str, dict[str, str]] = {
    "zh-CN": {
        # the backup-report pages
        "Identify the device from a photo": "拍照识别设备",
        "Photograph the nameplate (or the whole device); we find it for you.":
            "拍下铭牌（或整台设备），系统帮您找到设备。",
        "Reading the photo…": "正在识别照片…",
        "Could not send the photo; try again.": "照片发送失败，请重试。",
        "Found the device": "已找到设备",
        "Is it one of these? Tap the right one.": "是下面哪一台？请点选确认。",
        "Read from the nameplate": "铭牌识别",
        "Similarity": "相似度",
        "Report": "报修",
        "Text read from the photo": "照片中识别出的文字",
        # API messages
        "Found by the nameplate.": "已通过铭牌找到设备。",
        "Similar devices; tap the right one.": "找到相似的设备，请点选确认。",
        "No readable nameplate and no similar device photo. Photograph the nameplate closer, or type the serial.":
            "未能识别铭牌，也没有相似的设备照片。请靠近铭牌重拍，或直接输入序列号。",
        "The photo is empty.": "照片是空的，请重新拍摄。",
        "The photo is too large.": "照片太大，请压缩后重试。",
        "This is not a photo we can read (JPEG, PNG, WebP or GIF).":
            "无法读取该文件，请上传照片（JPEG、PNG、WebP 或 GIF）。",
        "Location is needed to search a hospital's devices.": "按医院查找设备需要您的位置。",
        "Too many photos in a minute; please wait a moment.": "一分钟内照片太多，请稍后再试。",
        "This device already has the most photos allowed; remove one first.": "该设备照片已达上限，请先删除一张。",
        "sign in first": "请先登录",
        # the admin photo page
        "Device photos": "设备照片",
        "Upload photos": "上传照片",
        "Photograph the front, the sides and the nameplate: a user's photo on the backup-report page is compared "
        "with these.": "请拍摄设备正面、侧面和铭牌：用户在备用报修页拍照时，系统会与这些照片比对。",
        "Uploading…": "上传中…",
        "Upload failed": "上传失败",
        "Remove": "删除",
        "Remove this photo?": "删除这张照片？",
        "No photos yet.": "还没有照片。",
        "Could not remove": "删除失败",
    },
    "en": {},
}
