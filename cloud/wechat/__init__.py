"""The WeChat Official Account channel: callback, scan replies, template messages, OAuth, JS-SDK, stand-in."""
