from __future__ import annotations

import io
import itertools
from pathlib import Path

import av
import numpy as np
import numpy.typing as npt
import pytest

from mediaserver.audio.decode import AudioDecodeError, DecodeLimits, decode_audio

# (container format, codec, file suffix, encoder sample format)
FORMATS = {
    "wav-pcm16": ("wav", "pcm_s16le", "wav", "s16"),
    "wav-mulaw": ("wav", "pcm_mulaw", "wav", "s16"),
    "wav-alaw": ("wav", "pcm_alaw", "wav", "s16"),
    "mp3": ("mp3", "libmp3lame", "mp3", "fltp"),
    "ogg-opus": ("ogg", "libopus", "ogg", "s16"),
    "flac": ("flac", "flac", "flac", "s16"),
    "m4a-aac": ("ipod", "aac", "m4a", "fltp"),
}


def tones(rate: int, seconds: float, freqs: tuple[float, ...]) -> npt.NDArray[np.float32]:
    t = np.arange(int(rate * seconds)) / rate
    return np.stack([0.5 * np.sin(2 * np.pi * f * t) for f in freqs]).astype(np.float32)


def encode(path: Path, kind: str, rate: int, signal: npt.NDArray[np.float32]) -> Path:
    """Write `signal` (channels, frames) with PyAV's own encoders."""
    fmt, codec, _, sample_format = FORMATS[kind]
    layout = {1: "mono", 2: "stereo"}[signal.shape[0]]
    with av.open(str(path), "w", format=fmt) as out:
        stream = out.add_stream(codec, rate=rate, layout=layout)
        step = 960
        for start in range(0, signal.shape[1], step):
            block = signal[:, start : start + step]
            if sample_format == "s16":
                data = (block.T * 32767).astype(np.int16).reshape(1, -1)
            else:
                data = np.ascontiguousarray(block)
            frame = av.AudioFrame.from_ndarray(data, format=sample_format, layout=layout)
            frame.sample_rate = rate
            frame.pts = start
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


def dominant_hz(x: npt.NDArray[np.float32], rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.argmax(spectrum) * rate / len(x))


@pytest.mark.parametrize("kind", list(FORMATS))
def test_decodes_each_format_to_16k_mono(tmp_path: Path, kind: str) -> None:
    rate = 8000 if "law" in kind else 48000 if "opus" in kind else 16000
    path = encode(tmp_path / f"a.{FORMATS[kind][2]}", kind, rate, tones(rate, 1.0, (440.0,)))
    audio = decode_audio(path)
    assert audio.sample_rate == 16000
    assert audio.source_rate == rate
    assert audio.samples.dtype == np.float32
    assert audio.samples.shape[0] == 1
    # Lossy codecs add priming/padding: allow a few tens of milliseconds.
    assert abs(audio.duration_s - 1.0) < 0.08
    assert abs(dominant_hz(audio.mono, 16000) - 440.0) < 5
    peak = float(np.abs(audio.mono).max())
    assert 0.35 < peak < 0.7


def test_g711_codecs_are_reported(tmp_path: Path) -> None:
    for kind, codec in (("wav-mulaw", "pcm_mulaw"), ("wav-alaw", "pcm_alaw")):
        path = encode(tmp_path / f"{kind}.wav", kind, 8000, tones(8000, 0.5, (300.0,)))
        audio = decode_audio(path)
        assert (audio.codec, audio.container, audio.source_channels) == (codec, "wav", 1)


@pytest.fixture
def stereo_44k(tmp_path: Path) -> bytes:
    path = encode(tmp_path / "st.wav", "wav-pcm16", 44100, tones(44100, 1.0, (440.0, 1000.0)))
    return path.read_bytes()


def test_stereo_channels_all_and_selected(stereo_44k: bytes) -> None:
    both = decode_audio(stereo_44k, channels="all")
    assert both.samples.shape == (2, 16000)
    assert abs(dominant_hz(both.samples[0], 16000) - 440) < 5
    assert abs(dominant_hz(both.samples[1], 16000) - 1000) < 5
    right = decode_audio(io.BytesIO(stereo_44k), channels=1)
    np.testing.assert_allclose(right.mono, both.samples[1], atol=1e-6)
    mixed = decode_audio(stereo_44k)
    np.testing.assert_allclose(mixed.mono, both.samples.mean(axis=0), atol=1e-6)
    with pytest.raises(ValueError, match="2 channels"):
        _ = both.mono


def test_channel_out_of_range(stereo_44k: bytes) -> None:
    with pytest.raises(AudioDecodeError, match="channel 2 requested; the file has 2"):
        decode_audio(stereo_44k, channels=2)


def test_int16_output(stereo_44k: bytes) -> None:
    floats = decode_audio(stereo_44k, channels=0)
    ints = decode_audio(stereo_44k, channels=0, dtype="int16")
    assert ints.samples.dtype == np.int16
    np.testing.assert_allclose(ints.mono / 32767.0, floats.mono, atol=1 / 32767)


def test_other_output_rate(stereo_44k: bytes) -> None:
    audio = decode_audio(stereo_44k, sample_rate=8000)
    assert audio.samples.shape == (1, 8000)


@pytest.mark.parametrize("rate", [8000, 16000, 44100])
def test_pcm_rates_resample_exactly(tmp_path: Path, rate: int) -> None:
    path = encode(tmp_path / "a.wav", "wav-pcm16", rate, tones(rate, 2.0, (500.0,)))
    audio = decode_audio(path)
    assert audio.samples.shape == (1, 32000)


def test_empty_input(tmp_path: Path) -> None:
    with pytest.raises(AudioDecodeError, match="empty input"):
        decode_audio(b"")
    (tmp_path / "empty.wav").write_bytes(b"")
    with pytest.raises(AudioDecodeError, match="empty input"):
        decode_audio(tmp_path / "empty.wav")
    with pytest.raises(AudioDecodeError, match="empty input"):
        decode_audio(io.BytesIO())


def test_garbage_bytes() -> None:
    rng = np.random.default_rng(7)
    with pytest.raises(AudioDecodeError, match="cannot decode audio"):
        decode_audio(rng.integers(0, 256, 4096, dtype=np.uint8).tobytes())


def test_wav_header_without_samples(stereo_44k: bytes) -> None:
    header_end = stereo_44k.index(b"data") + 8
    with pytest.raises(AudioDecodeError, match="no audio samples"):
        decode_audio(stereo_44k[:header_end])


def test_truncated_header_is_refused(stereo_44k: bytes) -> None:
    with pytest.raises(AudioDecodeError):
        decode_audio(stereo_44k[:20])


@pytest.mark.parametrize("kind", ["wav-pcm16", "mp3", "flac"])
def test_truncated_body_returns_the_audio_that_survived(tmp_path: Path, kind: str) -> None:
    path = encode(tmp_path / f"a.{FORMATS[kind][2]}", kind, 16000, tones(16000, 2.0, (440.0,)))
    data = path.read_bytes()
    whole = decode_audio(data).mono
    part = decode_audio(data[: len(data) // 2]).mono
    assert 0.2 * len(whole) < len(part) < 0.8 * len(whole)
    # What survived is the start of the recording (resampler edge aside).
    n = len(part) - 400
    np.testing.assert_allclose(part[:n], whole[:n], atol=2e-3)


@pytest.mark.parametrize(
    "text",
    [
        b"#EXTM3U\n#EXTINF:1,\nhttp://127.0.0.1:9/a.wav\n#EXT-X-ENDLIST\n",
        b"ffconcat version 1.0\nfile '/etc/passwd'\n",
        b"[playlist]\nFile1=http://127.0.0.1:9/stream\n",
    ],
)
def test_playlists_and_concat_lists_are_refused(tmp_path: Path, text: bytes) -> None:
    with pytest.raises(AudioDecodeError, match="text"):
        decode_audio(text)
    (tmp_path / "list.m3u8").write_bytes(text)
    with pytest.raises(AudioDecodeError, match="text"):
        decode_audio(tmp_path / "list.m3u8")


def test_concat_demuxer_not_used_even_when_binary_follows(stereo_44k: bytes) -> None:
    # A concat script followed by binary junk: not "text", yet the concat demuxer must not run.
    payload = b"ffconcat version 1.0\nfile 'x.wav'\n" + bytes(range(256)) * 4
    with pytest.raises(AudioDecodeError, match=r"unsupported container|not a readable"):
        decode_audio(payload)


@pytest.mark.parametrize("url", ["http://example.com/a.wav", "file:///etc/passwd", "concat:a|b"])
def test_urls_are_refused(url: str) -> None:
    with pytest.raises(AudioDecodeError, match="only local files"):
        decode_audio(url)


def test_missing_path() -> None:
    with pytest.raises(AudioDecodeError, match="cannot read"):
        decode_audio("/nonexistent/file.wav")


def test_duration_limit(stereo_44k: bytes) -> None:
    with pytest.raises(AudioDecodeError, match=r"longer than the limit of 0\.5 s"):
        decode_audio(stereo_44k, limits=DecodeLimits(max_duration_s=0.5))
    assert decode_audio(stereo_44k, limits=DecodeLimits(max_duration_s=1.0)).duration_s == 1.0


def test_duration_limit_enforced_on_decoded_samples(tmp_path: Path) -> None:
    # Opus in OGG carries no duration in its header: the limit must still hold while decoding.
    path = encode(tmp_path / "a.ogg", "ogg-opus", 48000, tones(48000, 2.0, (440.0,)))
    with pytest.raises(AudioDecodeError, match="longer than the limit"):
        decode_audio(path, limits=DecodeLimits(max_duration_s=0.3))


def test_decode_time_budget(stereo_44k: bytes) -> None:
    ticks = itertools.count(0.0, 1.0)  # every clock reading is one second later
    with pytest.raises(AudioDecodeError, match="longer than 3 s"):
        decode_audio(stereo_44k, limits=DecodeLimits(max_decode_s=3), clock=lambda: next(ticks))


def test_file_without_audio_stream(tmp_path: Path) -> None:
    path = tmp_path / "v.mkv"
    with av.open(str(path), "w", format="matroska") as out:
        stream = out.add_stream("ffv1", rate=10)
        stream.width, stream.height, stream.pix_fmt = 16, 16, "yuv420p"
        frame = av.VideoFrame.from_ndarray(np.zeros((16, 16, 3), np.uint8), format="rgb24")
        out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    with pytest.raises(AudioDecodeError, match="no audio stream"):
        decode_audio(path)


def test_bad_rate_argument(stereo_44k: bytes) -> None:
    with pytest.raises(ValueError, match="sample_rate"):
        decode_audio(stereo_44k, sample_rate=0)


def damage_middle(data: bytes, length: int = 400) -> bytes:
    out = bytearray(data)
    for i in range(len(out) // 2, len(out) // 2 + length):
        out[i] = (out[i] * 7 + 13) & 0xFF
    return bytes(out)


def test_damaged_packets_are_skipped_and_counted(tmp_path: Path) -> None:
    path = encode(tmp_path / "a.m4a", "m4a-aac", 16000, tones(16000, 2.0, (440.0,)))
    damaged = damage_middle(path.read_bytes())
    audio = decode_audio(damaged)
    assert audio.corrupt_packets >= 1
    assert 1.5 < audio.duration_s < 2.1
    with pytest.raises(AudioDecodeError, match="too many corrupt packets"):
        decode_audio(damaged, limits=DecodeLimits(max_corrupt_packets=0))


def test_bytes_like_and_open_file_inputs(tmp_path: Path, stereo_44k: bytes) -> None:
    expected = decode_audio(stereo_44k).mono
    np.testing.assert_array_equal(decode_audio(memoryview(stereo_44k)).mono, expected)
    path = tmp_path / "st.wav"
    path.write_bytes(stereo_44k)
    with path.open("rb") as f:
        np.testing.assert_array_equal(decode_audio(f).mono, expected)
    np.testing.assert_array_equal(decode_audio(str(path)).mono, expected)


def test_directory_is_not_a_file(tmp_path: Path) -> None:
    with pytest.raises(AudioDecodeError, match="cannot read"):
        decode_audio(tmp_path)
