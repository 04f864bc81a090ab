"""Tiny random-weight models that the real engines load and run (no network, ~0.5 s to build).

Only the weights are fake: the files have the layout, names and metadata of real models, so the
loading, feature extraction, decoding and timestamp code of faster-whisper and sherpa-onnx runs
for real. Output text is gibberish made of the filler words below.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import numpy.typing as npt

# Whisper's language tokens in token-id order (the large-v2 layout: 99 languages).
_LANGUAGE_LIST = (
    "en zh de es ru ko fr ja pt tr pl ca nl ar sv it id hi fi vi he uk el ms cs ro da hu ta no "
    "th ur hr bg lt la mi ml cy sk te fa lv bn sr az sl kn et mk br eu is hy ne mn bs kk sq sw "
    "gl mr pa si km sn yo so af oc ka be tg sd gu am yi lo uz fo ht ps tk nn mt sa lb my bo tl "
    "mg as tt haw ln ha ba jw su"
)
WHISPER_LANGUAGES = tuple(_LANGUAGE_LIST.split())
WHISPER_VOCAB_SIZE = 51_865
_WHISPER_TEXT_TOKENS = 50_257  # ids below this are BPE text tokens; <|endoftext|> is the next one
_WHISPER_TIMESTAMPS = 1_501  # <|0.00|> .. <|30.00|>
_N_MELS = 80

_CONSONANTS = "bcdfglmnprstv"
_VOWELS = "aeiou"


def _byte_alphabet() -> list[str]:
    """GPT-2's printable stand-ins for the 256 byte values (what ByteLevel pre-tokenizes into)."""
    printable = [
        *range(ord("!"), ord("~") + 1),
        *range(ord("¡"), ord("¬") + 1),
        *range(ord("®"), ord("ÿ") + 1),
    ]
    extra = 0
    chars: list[str] = []
    for byte in range(256):
        if byte in printable:
            chars.append(chr(byte))
        else:
            chars.append(chr(256 + extra))
            extra += 1
    return chars


def _syllables() -> list[str]:
    return [c + v for c, v in itertools.product(_CONSONANTS, _VOWELS)]


def _filler_words(count: int) -> list[str]:
    """Bare syllables, then pronounceable words ("Ġbado"): random decodes split into words."""
    words = _syllables()
    for length in (1, 2, 3):
        for parts in itertools.product(_syllables(), repeat=length):
            words.append("Ġ" + "".join(parts))
            if len(words) == count:
                return words
    raise AssertionError("not enough filler words")  # pragma: no cover - fixed sizes


def _merges(vocab: dict[str, int], words: int) -> list[tuple[str, str]]:
    """BPE merges that build the syllables and the first `words` pseudo-words from bytes."""
    merges = [(syllable[0], syllable[1]) for syllable in _syllables()]
    for token in vocab:
        if not token.startswith("Ġ") or len(merges) >= words:
            continue
        head, tail = token[:-2], token[-2:]
        if head in vocab and tail in vocab:
            merges.append((head, tail))
    return merges


def whisper_vocabulary() -> list[str]:
    """The 51 865 tokens of the large-v2 layout (text, specials, languages, timestamps)."""
    alphabet = _byte_alphabet()
    # ctranslate2 4.8 reads a model as multilingual only if "" is one of the tokens.
    text = [*alphabet, ""]
    text += _filler_words(_WHISPER_TEXT_TOKENS - len(text))
    specials = ["<|endoftext|>", "<|startoftranscript|>"]
    specials += [f"<|{code}|>" for code in WHISPER_LANGUAGES]
    specials += [
        "<|translate|>",
        "<|transcribe|>",
        "<|startoflm|>",
        "<|startofprev|>",
        "<|nocaptions|>",
        "<|notimestamps|>",
    ]
    stamps = [f"<|{i * 0.02:.2f}|>" for i in range(_WHISPER_TIMESTAMPS)]
    vocabulary = text + specials + stamps
    assert len(vocabulary) == WHISPER_VOCAB_SIZE
    return vocabulary


def _whisper_tokenizer_json(vocabulary: list[str], directory: Path) -> None:
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers

    text = vocabulary[:_WHISPER_TEXT_TOKENS]
    vocab = {token: index for index, token in enumerate(text)}
    # Enough merges that encoding real-looking text yields multi-byte tokens (prompts, hot words).
    merges = _merges(vocab, 2_000)
    tokenizer = Tokenizer(models.BPE(vocab=vocab, merges=merges))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.add_special_tokens(
        [AddedToken(token, special=True) for token in vocabulary[_WHISPER_TEXT_TOKENS:]]
    )
    tokenizer.save(str(directory / "tokenizer.json"))


def _rand(rng: np.random.Generator, *shape: int, scale: float = 0.2) -> npt.NDArray[np.float32]:
    return (rng.standard_normal(shape) * scale).astype(np.float32)


def _set_linear(spec: object, rng: np.random.Generator, out: int, inp: int) -> None:
    spec.weight = _rand(rng, out, inp)  # type: ignore[attr-defined]
    spec.bias = np.zeros(out, dtype=np.float32)  # type: ignore[attr-defined]


def _set_norm(spec: object, dim: int) -> None:
    spec.gamma = np.ones(dim, dtype=np.float32)  # type: ignore[attr-defined]
    spec.beta = np.zeros(dim, dtype=np.float32)  # type: ignore[attr-defined]


def _set_ffn(spec: object, rng: np.random.Generator, dim: int) -> None:
    _set_norm(spec.layer_norm, dim)  # type: ignore[attr-defined]
    _set_linear(spec.linear_0, rng, 2 * dim, dim)  # type: ignore[attr-defined]
    _set_linear(spec.linear_1, rng, dim, 2 * dim)  # type: ignore[attr-defined]


def build_tiny_whisper(
    directory: Path, *, dim: int = 32, layers: int = 2, seed: int = 0, eot_bias: float = 4.0
) -> Path:
    """Write a random-weight Whisper (large-v2 vocabulary, tiny dims) loadable by faster-whisper."""
    from ctranslate2.specs import whisper_spec

    rng = np.random.default_rng(seed)
    heads = 2
    spec = whisper_spec.WhisperSpec(layers, heads, layers, heads)
    encoder = spec.encoder
    encoder.conv1.weight = _rand(rng, dim, _N_MELS, 3)
    encoder.conv1.bias = np.zeros(dim, dtype=np.float32)
    encoder.conv2.weight = _rand(rng, dim, dim, 3)
    encoder.conv2.bias = np.zeros(dim, dtype=np.float32)
    encoder.position_encodings.encodings = _rand(rng, 1500, dim)
    _set_norm(encoder.layer_norm, dim)
    for layer in encoder.layer:
        _set_norm(layer.self_attention.layer_norm, dim)
        _set_linear(layer.self_attention.linear[0], rng, 3 * dim, dim)
        _set_linear(layer.self_attention.linear[1], rng, dim, dim)
        _set_ffn(layer.ffn, rng, dim)

    decoder = spec.decoder
    embeddings = _rand(rng, WHISPER_VOCAB_SIZE, dim)
    decoder.embeddings.weight = embeddings
    decoder.position_encodings.encodings = _rand(rng, 448, dim)
    _set_norm(decoder.layer_norm, dim)
    decoder.projection.weight = embeddings  # Whisper ties the output projection to the embeddings
    # Random weights would babble up to 448 tokens per window (and retry at every temperature):
    # favouring <|endoftext|> keeps segments to a few words and tests fast.
    bias = np.zeros(WHISPER_VOCAB_SIZE, dtype=np.float32)
    bias[_WHISPER_TEXT_TOKENS] = eot_bias
    decoder.projection.bias = bias
    for layer in decoder.layer:
        _set_norm(layer.self_attention.layer_norm, dim)
        _set_linear(layer.self_attention.linear[0], rng, 3 * dim, dim)
        _set_linear(layer.self_attention.linear[1], rng, dim, dim)
        _set_norm(layer.attention.layer_norm, dim)
        _set_linear(layer.attention.linear[0], rng, dim, dim)
        _set_linear(layer.attention.linear[1], rng, 2 * dim, dim)
        _set_linear(layer.attention.linear[2], rng, dim, dim)
        _set_ffn(layer.ffn, rng, dim)

    vocabulary = whisper_vocabulary()
    first_language = _WHISPER_TEXT_TOKENS + 2
    spec.config.suppress_ids = []
    spec.config.suppress_ids_begin = [220, _WHISPER_TEXT_TOKENS]
    spec.config.lang_ids = list(range(first_language, first_language + len(WHISPER_LANGUAGES)))
    spec.config.alignment_heads = [(layers - 1, head) for head in range(heads)]
    spec.register_vocabulary(vocabulary)
    spec.validate()
    directory.mkdir(parents=True, exist_ok=True)
    spec.save(str(directory))  # model.bin, config.json, vocabulary.json
    _whisper_tokenizer_json(vocabulary, directory)
    preprocessor = {
        "feature_size": _N_MELS,
        "sampling_rate": 16_000,
        "hop_length": 160,
        "chunk_length": 30,
        "n_fft": 400,
    }
    (directory / "preprocessor_config.json").write_text(json.dumps(preprocessor))
    return directory


# --- WeNet CTC (sherpa-onnx) ------------------------------------------------------------------

WENET_SUBSAMPLING = 4
WENET_RIGHT_CONTEXT = 6
_FBANK_DIM = 80


def wenet_tokens() -> list[str]:
    """<blank>, <unk>, word-initial and inner syllables (SentencePiece style), <sos/eos>."""
    syllables = _syllables()[:30]
    return ["<blank>", "<unk>", *("▁" + s for s in syllables), *syllables, "<sos/eos>"]


def _ctc_head(rng: np.random.Generator, vocab: int) -> tuple[npt.NDArray[np.float32], ...]:
    """Projection from fbank frames to token logits that says <blank> on silence.

    sherpa-onnx feeds WeNet models int16-scale samples; its log-mel features average about -16 on
    digital silence (0..5 once the offline front end dithers it) and above 18 on noise at 0.1
    RMS. The blank logit falls with the mean feature and crosses the random token logits near 14.
    """
    weight = _rand(rng, _FBANK_DIM, vocab, scale=0.1)
    # Zero-mean token columns react to the spectral shape, not the loudness: varied tokens.
    weight -= weight.mean(axis=0, keepdims=True)
    weight[:, 0] = -0.1
    weight[:, -1] = 0.0
    bias = np.zeros(vocab, dtype=np.float32)
    bias[0] = 0.1 * _FBANK_DIM * 14.0
    bias[-1] = -1e4  # <sos/eos> is never emitted by CTC
    return weight, bias


def _save_onnx(graph: object, path: Path, metadata: dict[str, object]) -> None:
    import onnx
    from onnx import helper

    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])  # type: ignore[arg-type]
    model.ir_version = 8
    for key, value in metadata.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, str(value)
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def _ctc_nodes(first_input: str, end: int) -> list[object]:
    """x -> every 4th frame (the subsampling) -> logits -> log-softmax, as ONNX nodes."""
    from onnx import helper

    return [
        helper.make_node("Slice", [first_input, "starts", "ends", "axes", "steps"], ["frames"]),
        helper.make_node("MatMul", ["frames", "weight"], ["logits0"]),
        helper.make_node("Add", ["logits0", "bias"], ["logits"]),
        helper.make_node("LogSoftmax", ["logits"], ["log_probs"], axis=-1),
    ]


def _slice_initializers(end: int) -> list[object]:
    from onnx import numpy_helper

    def ints(name: str, value: int) -> object:
        return numpy_helper.from_array(np.array([value], dtype=np.int64), name)

    return [ints("starts", 0), ints("ends", end), ints("axes", 1), ints("steps", WENET_SUBSAMPLING)]


def build_tiny_wenet_ctc(
    directory: Path,
    *,
    chunk_size: int = 16,
    left_chunks: int = 4,
    seed: int = 0,
    streaming: bool = True,
) -> Path:
    """Write `model.onnx` (+ `model-streaming.onnx`) and `tokens.txt` in sherpa-onnx's WeNet layout.

    Non-streaming: inputs x[N,T,80], x_lens[N] -> log_probs[N,T',V], log_probs_lens[N].
    Streaming: x[1,T,80], offset, required_cache_size, attn_cache, conv_cache, attn_mask ->
    log_probs, next_att_cache, next_conv_cache (the caches are carried through unchanged).
    """
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    tokens = wenet_tokens()
    vocab = len(tokens)
    weight, bias = _ctc_head(rng, vocab)
    head = [numpy_helper.from_array(weight, "weight"), numpy_helper.from_array(bias, "bias")]
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "tokens.txt").write_text(
        "".join(f"{token} {index}\n" for index, token in enumerate(tokens)), encoding="utf-8"
    )
    float_in = TensorProto.FLOAT
    int_in = TensorProto.INT64

    # Offline model: the lengths follow the same subsampling as the frames.
    lens_nodes = [
        helper.make_node("Add", ["x_lens", "three"], ["x_lens3"]),
        helper.make_node("Div", ["x_lens3", "four"], ["log_probs_lens"]),
    ]
    consts = [
        numpy_helper.from_array(np.array(3, dtype=np.int64), "three"),
        numpy_helper.from_array(np.array(WENET_SUBSAMPLING, dtype=np.int64), "four"),
    ]
    graph = helper.make_graph(
        [*_ctc_nodes("x", 2**31), *lens_nodes],
        "tiny_wenet_ctc",
        [
            helper.make_tensor_value_info("x", float_in, ["N", "T", _FBANK_DIM]),
            helper.make_tensor_value_info("x_lens", int_in, ["N"]),
        ],
        [
            helper.make_tensor_value_info("log_probs", float_in, ["N", "T2", vocab]),
            helper.make_tensor_value_info("log_probs_lens", int_in, ["N"]),
        ],
        initializer=[*head, *_slice_initializers(2**31), *consts],
    )
    meta: dict[str, object] = {
        "model_type": "wenet_ctc",
        "version": "1",
        "model_author": "mediaserver tests",
        "comment": "non-streaming",
        "subsampling_factor": WENET_SUBSAMPLING,
        "vocab_size": vocab,
    }
    _save_onnx(graph, directory / "model.onnx", meta)
    if streaming:
        _save_streaming(directory, head, vocab, chunk_size, left_chunks)
    return directory


def _save_streaming(
    directory: Path, head: list[object], vocab: int, chunk_size: int, left_chunks: int
) -> None:
    from onnx import TensorProto, helper

    heads, blocks, output_size, kernel = 2, 1, 8, 3
    # A chunk holds (chunk_size - 1) * 4 + right_context + 1 frames; dropping the right context
    # before taking every 4th frame leaves exactly chunk_size output frames for any chunk_size.
    nodes = [
        *_ctc_nodes("x", -WENET_RIGHT_CONTEXT),
        helper.make_node("Identity", ["attn_cache"], ["next_att_cache"]),
        helper.make_node("Identity", ["conv_cache"], ["next_conv_cache"]),
    ]
    f, i64 = TensorProto.FLOAT, TensorProto.INT64
    graph = helper.make_graph(
        nodes,
        "tiny_wenet_ctc_streaming",
        [
            helper.make_tensor_value_info("x", f, [1, "T", _FBANK_DIM]),
            helper.make_tensor_value_info("offset", i64, [1]),
            helper.make_tensor_value_info("required_cache_size", i64, [1]),
            helper.make_tensor_value_info(
                "attn_cache", f, [blocks, heads, "C", output_size // heads * 2]
            ),
            helper.make_tensor_value_info("conv_cache", f, [blocks, 1, output_size, kernel - 1]),
            helper.make_tensor_value_info("attn_mask", TensorProto.BOOL, [1, 1, "M"]),
        ],
        [
            helper.make_tensor_value_info("log_probs", f, [1, "T2", vocab]),
            helper.make_tensor_value_info(
                "next_att_cache", f, [blocks, heads, "C", output_size // heads * 2]
            ),
            helper.make_tensor_value_info(
                "next_conv_cache", f, [blocks, 1, output_size, kernel - 1]
            ),
        ],
        initializer=[*head, *_slice_initializers(-WENET_RIGHT_CONTEXT)],
    )
    meta: dict[str, object] = {
        "model_type": "wenet_ctc",
        "version": "1",
        "model_author": "mediaserver tests",
        "comment": "streaming",
        "chunk_size": chunk_size,
        "left_chunks": left_chunks,
        "head": heads,
        "num_blocks": blocks,
        "output_size": output_size,
        "cnn_module_kernel": kernel,
        "right_context": WENET_RIGHT_CONTEXT,
        "subsampling_factor": WENET_SUBSAMPLING,
        "vocab_size": vocab,
    }
    _save_onnx(graph, directory / "model-streaming.onnx", meta)
