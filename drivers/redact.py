"""Hide credentials in URLs before text reaches a log, a status message or the control room."""

from __future__ import annotations

import re

# Everything between "://" and the last "@" of a URL: user, password, even a password with
# an unencoded "/" in it. Over-redacting a rare "@" in a path is the safe side.
_URL_USERINFO = re.compile(r"(?<=://)[^@\s]*@")


def redact_urls(text: str) -> str:
    """``rtsp://admin:secret@cam/stream`` → ``rtsp://****@cam/stream`` (any URL in text)."""
    return _URL_USERINFO.sub("****@", text)
