"""The Datadog API key, and how to keep it out of every string the sink lets out: log lines,
exception messages, reprs. The intake's answers are not trusted to leave it out: a reason
phrase, a malformed status line or a body may echo it whole or in part."""

from __future__ import annotations

MASK = "***"
PIECE = 8  # a run of this many characters of the key is masked wherever it appears


def checked_api_key(value: str) -> str:
    """The key without surrounding whitespace (a key read from a file keeps its newline);
    ValueError, never quoting the key, when it is empty or no HTTP header can carry it."""
    if not isinstance(value, str):
        raise TypeError(f"the Datadog API key must be a string, not {type(value).__name__}")
    key = value.strip()
    if not key:
        raise ValueError(
            "Datadog agentless mode needs an API key: set DD_API_KEY (or pass api_key= to "
            "LLMObs.enable()), or unset DD_LLMOBS_AGENTLESS_ENABLED to send through a Datadog "
            "Agent")
    if not all(" " <= char <= "~" for char in key):
        raise ValueError(
            "the Datadog API key (api_key= or DD_API_KEY) holds a control character or a "
            "non-ASCII character, which an HTTP header cannot carry: check how it was set")
    return key


class Secret:
    """Holds the key; `mask(text)` replaces every run of PIECE or more of its characters (the
    whole key if it is shorter) with "***"."""

    __slots__ = ("_pieces", "_length")

    def __init__(self, value: str) -> None:
        self._length = len(value)
        size = min(PIECE, len(value))
        self._pieces = frozenset(value[i:i + size] for i in range(len(value) - size + 1))

    def __repr__(self) -> str:
        return f"Secret({MASK!r})"

    def mask(self, text: str) -> str:
        # Masking shortens the text, so this ends; looping covers a key that contains "***".
        while True:
            masked = self._mask_once(text)
            if masked == text:
                return text
            text = masked

    def excerpt(self, text: str, limit: int) -> str:
        """At most `limit` characters of `text`, masked before the cut. Only a part of `text`
        is masked, one long enough that a key it cuts short (a remnant of fewer than PIECE
        characters, left at its end) falls beyond the excerpt."""
        window = limit + self._length
        while True:
            masked = self.mask(text[:window])
            if len(masked) >= limit + PIECE or window >= len(text):
                return masked[:limit]
            window *= 2

    def _mask_once(self, text: str) -> str:
        pieces = [piece for piece in self._pieces if piece in text]
        if not pieces:
            return text
        covered = bytearray(len(text))
        for piece in pieces:
            start = text.find(piece)
            while start != -1:
                covered[start:start + len(piece)] = b"\1" * len(piece)
                start = text.find(piece, start + 1)
        parts, index = [], 0
        while index < len(text):
            if covered[index]:
                while index < len(text) and covered[index]:
                    index += 1
                parts.append(MASK)
            else:
                end = covered.find(b"\1", index)
                end = len(text) if end == -1 else end
                parts.append(text[index:end])
                index = end
        return "".join(parts)
