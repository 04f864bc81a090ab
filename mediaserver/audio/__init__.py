"""Pure DSP on PCM16: resampling, DC removal, gain, denoise, voice activity detection."""
