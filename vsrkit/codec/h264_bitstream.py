"""Just enough H.264 bitstream parsing to track reference pictures.

FFmpeg's motion-vector export says only whether a block predicts from the past or the future (``source``), not
from WHICH picture. To find it, :mod:`vsrkit.codec.motion` needs the decoder's reference-picture window:
``max_num_ref_frames`` from the sequence parameter set and, per picture, whether it is a reference picture
(``nal_ref_idc > 0`` on its slices).
"""
from __future__ import annotations

_SCALING_LIST_PROFILES = {100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135}


class _Bits:
    """MSB-first bit reader over an RBSP (emulation-prevention bytes already removed)."""

    def __init__(self, data: bytes):
        self.data, self.pos = data, 0

    def u(self, n: int) -> int:
        value = 0
        for _ in range(n):
            byte = self.data[self.pos >> 3]
            value = (value << 1) | ((byte >> (7 - (self.pos & 7))) & 1)
            self.pos += 1
        return value

    def ue(self) -> int:
        zeros = 0
        while self.u(1) == 0:
            zeros += 1
            if zeros > 31:
                raise ValueError("invalid exp-Golomb code")
        return (1 << zeros) - 1 + self.u(zeros)

    def se(self) -> int:
        k = self.ue()
        return (k + 1) // 2 if k % 2 else -(k // 2)


def _rbsp(nal: bytes) -> bytes:
    """Remove emulation-prevention bytes (00 00 03 -> 00 00)."""
    out, zeros = bytearray(), 0
    for b in nal:
        if zeros >= 2 and b == 3:
            zeros = 0
            continue
        out.append(b)
        zeros = zeros + 1 if b == 0 else 0
    return bytes(out)


def sps_max_num_ref_frames(sps_nal: bytes) -> int:
    """``max_num_ref_frames`` of an SPS NAL unit (header byte included)."""
    r = _Bits(_rbsp(sps_nal[1:]))
    profile_idc = r.u(8)
    r.u(16)  # constraint flags + level_idc
    r.ue()  # seq_parameter_set_id
    if profile_idc in _SCALING_LIST_PROFILES:
        chroma_format_idc = r.ue()
        if chroma_format_idc == 3:
            r.u(1)
        r.ue(); r.ue(); r.u(1)  # noqa: E702  bit depths, qpprime_y_zero_transform_bypass
        if r.u(1):  # seq_scaling_matrix_present_flag
            for i in range(8 if chroma_format_idc != 3 else 12):
                if r.u(1):
                    last = nxt = 8
                    for _ in range(16 if i < 6 else 64):
                        if nxt != 0:
                            nxt = (last + r.se() + 256) % 256
                        last = nxt if nxt != 0 else last
    r.ue()  # log2_max_frame_num_minus4
    poc_type = r.ue()
    if poc_type == 0:
        r.ue()
    elif poc_type == 1:
        r.u(1); r.se(); r.se()  # noqa: E702
        for _ in range(r.ue()):
            r.se()
    return r.ue()


def split_nals(data: bytes, length_size: int | None):
    """Yield NAL units of a packet: length-prefixed (mp4/avcC, ``length_size`` bytes) or Annex B (None)."""
    if length_size:
        pos = 0
        while pos + length_size <= len(data):
            n = int.from_bytes(data[pos:pos + length_size], "big")
            pos += length_size
            if n <= 0:
                return
            yield data[pos:pos + n]
            pos += n
        return
    starts, i = [], data.find(b"\x00\x00\x01")
    while i >= 0:
        starts.append(i + 3)
        i = data.find(b"\x00\x00\x01", i + 3)
    for k, s in enumerate(starts):
        end = starts[k + 1] - 3 if k + 1 < len(starts) else len(data)
        yield data[s:end].rstrip(b"\x00") if k + 1 < len(starts) else data[s:end]


def avcc_info(extradata: bytes | None) -> tuple[int | None, list[bytes]]:
    """From codec extradata: ``(nal length size or None for Annex B, [SPS NAL units])``."""
    if not extradata:
        return None, []
    if extradata[0] == 1 and len(extradata) > 7:  # avcC box
        length_size = (extradata[4] & 3) + 1
        count, pos, sps = extradata[5] & 0x1F, 6, []
        for _ in range(count):
            n = int.from_bytes(extradata[pos:pos + 2], "big")
            sps.append(extradata[pos + 2:pos + 2 + n])
            pos += 2 + n
        return length_size, sps
    return None, [nal for nal in split_nals(extradata, None) if nal and nal[0] & 0x1F == 7]


def packet_reference_info(data: bytes, length_size: int | None) -> tuple[bool | None, list[bytes]]:
    """``(is_reference_picture or None if no slice found, [SPS NAL units in the packet])``."""
    is_ref, sps = None, []
    for nal in split_nals(data, length_size):
        if not nal:
            continue
        nal_type = nal[0] & 0x1F
        if nal_type == 7:
            sps.append(nal)
        elif nal_type in (1, 5) and is_ref is None:
            is_ref = (nal[0] >> 5) & 3 > 0
    return is_ref, sps
