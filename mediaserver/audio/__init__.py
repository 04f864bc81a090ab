"""Pure DSP on PCM16: resampling, DC removal, gain, denoise, voice activity detection.

    resample.Resampler       soxr streaming, any rate to any rate (latency-aware quality)
    fir.FirResampler         integer ratios (8k->16k, 48k->16k), 5.4 ms held back: live audio
    levels.DcBlocker         20 Hz high-pass, state carried across frames
    levels.GainNormalizer    peak normalization with attack/release and a noise-floor hold
    denoise.Denoiser         RNNoise (ctypes) at any rate through 48 kHz
    vad.VadStream            per-call VAD state; vad.VadBatcher runs Silero for many calls at once
    pipeline.Preprocessor    the per-call front end: source rate -> normalized 16 kHz int16

No module here imports asyncio, reads the clock or logs.
"""
