"""RTP packets recorded off the wire (hex), for tests that want real bytes.

Captured on loopback from ffmpeg 5.1 (Debian 12) sending a 440 Hz sine at 8 kHz, 20 ms per
packet:
``ffmpeg -re -f lavfi -i sine=frequency=440:sample_rate=8000 -af asetnsamples=n=160:p=0
-ac 1 -c:a pcm_mulaw -f rtp rtp://127.0.0.1:PORT?pkt_size=172`` (and ``pcm_alaw``).
"""

PCMU_SINE_440 = [
    bytes.fromhex(
        "80000eb16c8f439819c563aaffc8bab3afafb2b9c6ef4a3b332f2f32394467ccbcb4b0afb2b8c2df4d3c"
        "35302f3137405bd0bdb5b0afb1b6bfd7533e36302f30363e53d7bfb6b1afb0b5bdd05b4037312f30353c"
        "4ddfc2b8b2afb0b4bccc674439322f2f333b4aefc6b9b2afafb3bac8ff483a332f2f3239466fcabbb3af"
        "afb2b9c4e74c3c34302f3138425fcebcb5b0afb1b7c0db503d35302f31363f57d3beb6b0afb0b6bed357"
        "3f36312f"
    ),
    bytes.fromhex(
        "80000eb26c8f443819c563aa30353d50dbc0b7b1afb0b5bcce5f4238312f30343c4ce7c4b9b2afafb3bb"
        "ca6f4639322f2f333a487ec8bab3afafb2b9c6ef4a3b332f2f32394467ccbcb4b0afb2b8c2df4d3c3530"
        "2f3137405bd0bdb5b0afb1b6bfd7533e36302f30363e53d7bfb6b1afb0b5bdd05b4037312f30353c4ddf"
        "c2b8b2afb0b4bccc674439322f2f333b4aefc6b9b2afafb3bac8ff483a332f2f3239466fcabbb3afafb2"
        "b9c4e74c"
    ),
]

PCMA_SINE_440 = bytes.fromhex(
    "80080335db5009db22b82fcfd5e0919e9a9a9990e2dd66161e1a1a19106c45e4979f9b9a9993eecd7a171c"
    "1b1a18126875fe949c9b9a989debf17d151d1b1a1b1d157df1eb92989a9b9c94fe756812181a1b1c177acd"
    "ee93999a9b9f97e4456c10191a1a1e1666dde290999a9a9e91e0d560111e1a1a1910625de6969e9a9a99"
    "90ecc564171f1a1a19136e4dfa949c9b9a9892e8ca79141c1b1a181d6b71f2959d9b9a9b9d95fd716b1d"
    "181a"
)
