"""The call's events as clients receive them: JSON-ready dicts, `type` first, then `call_id`.

One builder per event type of the public contract (DESIGN.md, "Events"), so the field names
are written down once. `audio_ms` is a position in the call's 16 kHz audio timeline (0 = the
first sample after preprocessing) for every event that refers to audio.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from mediaserver.session.events import (
    AudioOverrun,
    Closed,
    Event,
    HoldEntered,
    SpeechEnded,
    SpeechStarted,
    StateChanged,
)
from mediaserver.session.states import CloseReason

EventDict = dict[str, Any]
# The `error` code for a segment whose final will never come (the call closed or failed first).
FINAL_LOST = "final_lost"


def event(kind: str, call_id: str, **fields: Any) -> EventDict:
    """An event dict; keys keep this order when serialized (`type` first)."""
    return {"type": kind, "call_id": call_id, **fields}


def session_created(
    call_id: str, transport: str, state: str, options: Mapping[str, Any]
) -> EventDict:
    return event("session.created", call_id, transport=transport, state=state, **options)


def from_session(call_id: str, item: Event, close_reason: str | None = None) -> EventDict | None:
    """The contract event for one session event; None for the session's internal records."""
    match item:
        case StateChanged(old, new, audio_ms):
            return event(
                "session.state", call_id, **{"from": old.value, "to": new.value}, audio_ms=audio_ms
            )
        case HoldEntered(audio_ms):
            return event("session.hold", call_id, audio_ms=audio_ms)
        case SpeechStarted(_, audio_ms):
            return event("vad.speech_start", call_id, audio_ms=audio_ms)
        case SpeechEnded(_, audio_ms):
            return event("vad.speech_end", call_id, audio_ms=audio_ms)
        case AudioOverrun(_, _, lost, audio_ms):
            return error(
                call_id,
                "audio_overrun",
                "transcription fell a whole ring buffer behind; the oldest audio was dropped",
                recoverable=True,
                audio_ms=audio_ms,
                lost_segments=list(lost),
            )
        case Closed(reason, audio_ms, unflushed, detail):
            fields: dict[str, Any] = {"reason": close_reason or reason.value, "audio_ms": audio_ms}
            if unflushed:
                fields["unflushed_segments"] = list(unflushed)
            if detail:
                fields["detail"] = detail
            return event("session.closed", call_id, **fields)
    return None


def finals_lost(call_id: str, closed: Closed) -> list[EventDict]:
    """One `final_lost` error per segment the closing call gave up waiting for (before its
    `session.closed`, which lists them as `unflushed_segments`)."""
    failed = closed.reason is CloseReason.ERROR
    reason = "call_failed" if failed else "closing_timeout"
    why = "the call failed" if failed else "the call closed (closing timeout)"
    return [
        error(
            call_id,
            FINAL_LOST,
            f"the final of segment {segment_id} was lost: {why} before it was transcribed",
            recoverable=False,
            segment_id=segment_id,
            reason=reason,
            audio_ms=closed.audio_ms,
        )
        for segment_id in closed.unflushed
    ]


def error(call_id: str, code: str, message: str, *, recoverable: bool, **fields: Any) -> EventDict:
    return event("error", call_id, code=code, message=message, recoverable=recoverable, **fields)


def dtmf(call_id: str, digit: str, audio_ms: int) -> EventDict:
    return event("dtmf", call_id, digit=digit, audio_ms=audio_ms)


def partial(call_id: str, segment_id: int, text: str, start_ms: int, audio_ms: int) -> EventDict:
    """`segment_id` is the id the segment's final will carry."""
    return event(
        "transcript.partial",
        call_id,
        segment_id=segment_id,
        text=text,
        start_ms=start_ms,
        audio_ms=audio_ms,
    )


def final(
    call_id: str,
    *,
    segment_id: int,
    text: str,
    raw_text: str,
    entities: Iterable[Mapping[str, Any]],
    start_ms: int,
    end_ms: int,
    language: str | None,
    confidence: float | None,
) -> EventDict:
    return event(
        "transcript.final",
        call_id,
        segment_id=segment_id,
        text=text,
        raw_text=raw_text,
        entities=[dict(e) for e in entities],
        start_ms=start_ms,
        end_ms=end_ms,
        language=language,
        confidence=confidence,
        audio_ms=end_ms,
    )


def frames_dropped(call_id: str, count: int) -> EventDict:
    """Events a slow subscriber missed (the oldest ones went first)."""
    return event("session.frames_dropped", call_id, count=count, reason="slow_subscriber")
