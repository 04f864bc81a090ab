"""Decoding files from clients behind a process boundary.

FFmpeg's decoders are C code run on bytes anyone can upload; one crash or runaway allocation
there must cost one request, never the server. `sandbox.DecodeSandbox` runs each file in a fresh
child process (`python -m mediaserver.decoding.child`) under an address-space and a CPU-time
limit, streams the 16 kHz PCM back while counting it, and kills the child the moment a bound is
passed. The decoding code itself is `mediaserver.audio.decode`, so results match the in-process
`decode_audio` exactly.
"""
