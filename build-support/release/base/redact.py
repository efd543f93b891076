"""Credentials in URLs never leave the process: `https://user:token@host/x` is shown as
`https://***@host/x` in every status, page, log line, event and error message.

One function, `redact`, applied to text; `redact_data` applies it to every string of a
JSON-like value (a status document, an event record).
"""

from __future__ import annotations

import re

# scheme://userinfo@ — userinfo is everything up to the first '@' before the host
# part ends ('/', whitespace, quotes or angle brackets end a URL in running text).
_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/@\s\"'<>]+@")
MASK = "***"


def redact(text: str) -> str:
    """`text` with the user info of every URL in it replaced by ***."""
    return _USERINFO.sub(rf"\g<1>{MASK}@", text)


def redact_data(value):
    """A copy of a JSON-like value with every string in it redacted."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: redact_data(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact_data(v) for v in value]
    return value
