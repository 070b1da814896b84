"""The usual main/sub-stream URL pairs of camera vendors (pure: URL in, URL out).

Commune cameras are mostly Dahua or Hikvision (and their many rebrands); each sends a main
stream (full resolution, for recording) and a sub-stream (640x360 or 704x576, plenty for
detection). ``other_stream`` recognises a URL's pattern and names the other stream, so that
``edge-agent camera probe`` can try it and say how to configure both.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

Role = Literal["main", "sub"]


@dataclass(frozen=True)
class OtherStream:
    vendor: str  # "Dahua-style", ...
    given: Role  # what the URL given is
    url: str  # the other stream's URL

    @property
    def other(self) -> Role:
        return "sub" if self.given == "main" else "main"


# (vendor, regex with a group for the stream selector, {selector: role}, {role: selector})
_PATTERNS: list[tuple[str, re.Pattern[str], dict[str, Role], dict[Role, str]]] = [
    ("Dahua-style (/cam/realmonitor?channel=N&subtype=0|1)",
     re.compile(r"/cam/realmonitor\?(?:.*&)?subtype=(\d)", re.I),
     {"0": "main", "1": "sub"}, {"main": "0", "sub": "1"}),
    ("Hikvision-style (/Streaming/Channels/N01|N02)",
     re.compile(r"/Streaming/Channels/\d*?(0[12])(?:\?|$)", re.I),
     {"01": "main", "02": "sub"}, {"main": "01", "sub": "02"}),
    ("Hikvision-style (/h264/chN/main|sub/av_stream)",
     re.compile(r"/h26[45]/ch\d+/(main|sub)/av_stream", re.I),
     {"main": "main", "sub": "sub"}, {"main": "main", "sub": "sub"}),
    ("Uniview-style (/unicast/cN/s0|s1/live)",
     re.compile(r"/unicast/c\d+/s([01])/live", re.I),
     {"0": "main", "1": "sub"}, {"main": "0", "sub": "1"}),
    ("Reolink-style (/h264Preview_NN_main|sub)",
     re.compile(r"/h26[45]Preview_\d+_(main|sub)", re.I),
     {"main": "main", "sub": "sub"}, {"main": "main", "sub": "sub"}),
    ("TP-Link/Tapo-style (/stream1|stream2)",
     re.compile(r"/stream([12])$", re.I),
     {"1": "main", "2": "sub"}, {"main": "1", "sub": "2"}),
]

EXAMPLES = ("Dahua: /cam/realmonitor?channel=1&subtype=0 (main), &subtype=1 (sub); "
            "Hikvision: /Streaming/Channels/101 (main), /102 (sub)")


def other_stream(url: str) -> OtherStream | None:
    """The other stream of a recognised vendor URL pattern, else None."""
    for vendor, pattern, roles, selectors in _PATTERNS:
        match = pattern.search(url)
        if match is None:
            continue
        selector = match.group(1)
        given = roles.get(selector.lower() if selector.isalpha() else selector)
        if given is None:
            continue
        other = selectors["sub" if given == "main" else "main"]
        if selector.isupper():
            other = other.upper()
        start, end = match.span(1)
        return OtherStream(vendor, given, url[:start] + other + url[end:])
    return None
