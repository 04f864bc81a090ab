"""Speech response encoders: every format decodes back (PyAV) to the audio that went in."""

from __future__ import annotations

import io
import struct
import wave

import av
import numpy as np
import numpy.typing as npt
import pytest

from mediaserver.formats.audio import (
    AUDIO_FORMATS,
    UNKNOWN_SIZE,
    WAV_HEADER_BYTES,
    AudioFormat,
    create_encoder,
    parse_format,
    wav_header,
)

RATE = 22_050  # espeak-ng's
CHUNK = RATE // 5  # 200 ms, about one short clause


def tone(seconds: float, rate: int = RATE, hz: float = 440.0) -> npt.NDArray[np.int16]:
    t = np.arange(int(seconds * rate)) / rate
    return (np.sin(2 * np.pi * hz * t) * 12_000).astype(np.int16)


def encode_chunked(fmt: AudioFormat, pcm: npt.NDArray[np.int16], rate: int = RATE) -> list[bytes]:
    encoder = create_encoder(fmt, rate)
    parts = [encoder.encode(pcm[i : i + CHUNK]) for i in range(0, len(pcm), CHUNK)]
    return [*parts, encoder.finish()]


def decode(data: bytes) -> tuple[npt.NDArray[np.float64], int]:
    """Mono samples in [-1, 1] and their rate."""
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.audio[0]
        frames = [f.to_ndarray().reshape(-1) for f in container.decode(stream)]
        rate = stream.codec_context.sample_rate
    audio = np.concatenate(frames)
    scale = 32768.0 if audio.dtype == np.int16 else 1.0
    return audio.astype(np.float64) / scale, rate


@pytest.mark.parametrize("fmt", ["wav", "mp3", "opus", "flac"])
def test_every_container_decodes_to_the_same_duration(fmt: AudioFormat) -> None:
    pcm = tone(2.0)
    audio, rate = decode(b"".join(encode_chunked(fmt, pcm)))
    # mp3 pads with encoder delay and a partial last frame (< 2 frames of 1152).
    assert len(audio) / rate == pytest.approx(2.0, abs=0.11)
    rms = np.sqrt(np.mean(audio**2))
    assert rms == pytest.approx(12_000 / 32768 / np.sqrt(2), rel=0.15)  # the tone, not silence


@pytest.mark.parametrize("fmt", ["wav", "flac"])
def test_lossless_formats_give_back_the_samples(fmt: AudioFormat) -> None:
    pcm = tone(1.0)
    audio, rate = decode(b"".join(encode_chunked(fmt, pcm)))
    assert rate == RATE
    np.testing.assert_array_equal(np.rint(audio * 32768).astype(np.int16), pcm)


def test_pcm_is_raw_little_endian_samples() -> None:
    pcm = tone(0.5)
    data = b"".join(encode_chunked("pcm", pcm))
    np.testing.assert_array_equal(np.frombuffer(data, "<i2"), pcm)


def test_streaming_wav_header_says_unknown_size_and_comes_first() -> None:
    parts = encode_chunked("wav", tone(0.5))
    header = parts[0][:WAV_HEADER_BYTES]
    riff, riff_size, wave_id = struct.unpack("<4sI4s", header[:12])
    (data_size,) = struct.unpack("<I", header[40:44])
    assert (riff, wave_id, riff_size, data_size) == (b"RIFF", b"WAVE", UNKNOWN_SIZE, UNKNOWN_SIZE)
    assert len(parts[0]) == WAV_HEADER_BYTES + 2 * CHUNK  # the first clause's audio comes with it
    assert all(b"RIFF" not in p for p in parts[1:])


def test_exact_wav_header_is_what_the_wave_module_writes() -> None:
    pcm = tone(0.3)
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(pcm.tobytes())
    assert wav_header(RATE, pcm.nbytes) + pcm.tobytes() == buf.getvalue()


def test_empty_wav_is_still_a_valid_file() -> None:
    encoder = create_encoder("wav", RATE)
    with wave.open(io.BytesIO(encoder.finish())) as w:
        assert (w.getframerate(), w.getnframes()) == (RATE, 0)


@pytest.mark.parametrize("fmt", ["mp3", "opus", "flac"])
def test_compressed_formats_stream_before_the_end(fmt: AudioFormat) -> None:
    parts = encode_chunked(fmt, tone(3.0))
    before_finish = sum(len(p) for p in parts[:-1])
    assert before_finish > 0.7 * sum(len(p) for p in parts)
    assert parts[1]  # audio leaves with the second chunk, not only at the end


@pytest.mark.parametrize(("rate", "opus_rate"), [(22_050, 24_000), (8000, 8000), (44_100, 48_000)])
def test_opus_takes_the_next_rate_it_supports(rate: int, opus_rate: int) -> None:
    encoder = create_encoder("opus", rate)
    assert encoder.sample_rate == opus_rate
    data = encoder.encode(tone(1.0, rate)) + encoder.finish()
    audio, decoded_rate = decode(data)
    assert len(audio) / decoded_rate == pytest.approx(1.0, abs=0.03)


def test_format_names() -> None:
    assert [parse_format(f) for f in AUDIO_FORMATS] == list(AUDIO_FORMATS)
    with pytest.raises(ValueError, match="response_format must be one of wav, pcm, mp3"):
        parse_format("aac")
    with pytest.raises(ValueError, match="response_format"):
        parse_format(None)


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match=r"sample_rate must be 8000\.\.48000"):
        create_encoder("wav", 4000)
    encoder = create_encoder("mp3", RATE)
    with pytest.raises(ValueError, match="int16"):
        encoder.encode(np.zeros(100, np.float32))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="mono"):
        encoder.encode(np.zeros((2, 100), np.int16))
    encoder.finish()
    with pytest.raises(ValueError, match="finished"):
        encoder.encode(tone(0.1))
    with pytest.raises(ValueError, match="data_bytes"):
        wav_header(RATE, -1)
