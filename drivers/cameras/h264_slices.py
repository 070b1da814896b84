"""Sans-IO H.264 bitstream reader: slice type, QP and coded bytes of a frame, no decoding.

Adaptive decode needs a cheap sign that the picture started to change. Camera streams are
constant bit rate, so a frame with motion is no larger than a still one; what changes is the
quantiser the rate control picks (``slice_qp_delta`` in every slice header). Reading it takes
a few dozen bytes per slice, a few microseconds of Python, against milliseconds of decoding.

Handles Annex B packets (start codes: RTSP) and AVCC packets (length prefixes: MP4 files,
with the SPS/PPS in the stream's extradata); SPS and PPS found in-band replace earlier ones.
Emulation-prevention bytes are removed from the bytes read only (a slice header's prefix).
Anything it does not understand (slice groups, MVC/SVC slices, a PPS it never saw, a
truncated header) gives ``None`` for that frame; the caller falls back to packet sizes.
"""

from __future__ import annotations

from dataclasses import dataclass

NAL_SLICE, NAL_IDR, NAL_SPS, NAL_PPS = 1, 5, 7, 8
SLICE_TYPES = "PBIpi"  # slice_type % 5: P, B, I, SP (p), SI (i)
HEAD_BYTES = 32  # enough for most slice headers (the whole NAL is read when it is not);
# small, because every read shifts a Python int of this many bytes
# profile_idc values whose SPS carries chroma format, bit depths and scaling lists
HIGH_PROFILES = frozenset((100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135))


class BitstreamError(ValueError):
    """The bytes are not what the H.264 syntax says they should be (or ran out)."""


class Bits:
    """MSB-first bit reader over an RBSP (emulation prevention already removed)."""

    __slots__ = ("_left", "_value")

    def __init__(self, rbsp: bytes) -> None:
        self._value = int.from_bytes(rbsp, "big")
        self._left = len(rbsp) * 8  # bits not read yet

    def u(self, n: int) -> int:
        if n > self._left:
            raise BitstreamError("header runs past the end of the NAL unit")
        self._left -= n
        return (self._value >> self._left) & ((1 << n) - 1)

    def ue(self) -> int:
        rest = self._value & ((1 << self._left) - 1)
        zeros = self._left - rest.bit_length()
        if zeros > 31 or zeros >= self._left:
            raise BitstreamError("bad exp-Golomb code")
        self._left -= zeros
        return self.u(zeros + 1) - 1

    def se(self) -> int:
        k = self.ue()
        return (k + 1) // 2 if k & 1 else -(k // 2)


def rbsp(nal: bytes) -> bytes:
    """The NAL payload without its header byte and emulation-prevention bytes (00 00 03)."""
    return nal[1:].replace(b"\x00\x00\x03", b"\x00\x00")


@dataclass(frozen=True, slots=True)
class Sps:
    log2_max_frame_num: int
    poc_type: int
    log2_max_poc_lsb: int
    delta_poc_always_zero: bool
    frame_mbs_only: bool
    separate_colour_plane: bool
    chroma_array_type: int


@dataclass(frozen=True, slots=True)
class Pps:
    sps_id: int
    cabac: bool
    bottom_field_poc_present: bool
    num_ref_idx_default: tuple[int, int]
    weighted_pred: bool
    weighted_bipred_idc: int
    pic_init_qp: int
    redundant_pic_cnt_present: bool


@dataclass(frozen=True, slots=True)
class FrameInfo:
    """What the slice headers of one frame say: its type (the first slice's), the mean QP
    over its slices weighted by their size, and the coded bytes of its slices."""

    slice_type: str  # "I", "P", "B", "p" (SP), "i" (SI)
    qp: float
    size: int
    slices: int


def _skip_scaling_list(b: Bits, size: int) -> None:
    last = nxt = 8
    for _ in range(size):
        if nxt:
            nxt = (last + b.se()) % 256
        last = nxt or last


def parse_sps(nal: bytes) -> tuple[int, Sps]:
    b = Bits(rbsp(nal))
    profile = b.u(8)
    b.u(16)  # constraint flags, level_idc
    sps_id = b.ue()
    chroma_format, separate = 1, False
    if profile in HIGH_PROFILES:
        chroma_format = b.ue()
        if chroma_format == 3:
            separate = bool(b.u(1))
        b.ue()  # bit_depth_luma_minus8
        b.ue()  # bit_depth_chroma_minus8
        b.u(1)  # qpprime_y_zero_transform_bypass_flag
        if b.u(1):  # seq_scaling_matrix_present_flag
            for i in range(8 if chroma_format != 3 else 12):
                if b.u(1):
                    _skip_scaling_list(b, 16 if i < 6 else 64)
    log2_max_frame_num = b.ue() + 4
    poc_type = b.ue()
    log2_max_poc_lsb, always_zero = 0, False
    if poc_type == 0:
        log2_max_poc_lsb = b.ue() + 4
    elif poc_type == 1:
        always_zero = bool(b.u(1))
        b.se()  # offset_for_non_ref_pic
        b.se()  # offset_for_top_to_bottom_field
        for _ in range(b.ue()):
            b.se()
    elif poc_type != 2:
        raise BitstreamError(f"pic_order_cnt_type {poc_type}")
    b.ue()  # max_num_ref_frames
    b.u(1)  # gaps_in_frame_num_value_allowed_flag
    b.ue()  # pic_width_in_mbs_minus1
    b.ue()  # pic_height_in_map_units_minus1
    frame_mbs_only = bool(b.u(1))
    return sps_id, Sps(log2_max_frame_num, poc_type, log2_max_poc_lsb, always_zero,
                       frame_mbs_only, separate, 0 if separate else chroma_format)


def parse_pps(nal: bytes) -> tuple[int, Pps]:
    b = Bits(rbsp(nal))
    pps_id, sps_id = b.ue(), b.ue()
    cabac = bool(b.u(1))
    bottom_field_poc = bool(b.u(1))
    if b.ue():  # num_slice_groups_minus1: FMO, which no camera uses
        raise BitstreamError("slice groups (FMO) are not supported")
    refs = (b.ue() + 1, b.ue() + 1)
    weighted_pred = bool(b.u(1))
    bipred = b.u(2)
    qp = 26 + b.se()
    b.se()  # pic_init_qs_minus26
    b.se()  # chroma_qp_index_offset
    b.u(1)  # deblocking_filter_control_present_flag
    b.u(1)  # constrained_intra_pred_flag
    redundant = bool(b.u(1))
    return pps_id, Pps(sps_id, cabac, bottom_field_poc, refs, weighted_pred, bipred, qp,
                       redundant)


def _skip_ref_list_modification(b: Bits) -> None:
    if b.u(1):  # ref_pic_list_modification_flag
        while (idc := b.ue()) != 3:
            if idc > 5:
                raise BitstreamError("bad modification_of_pic_nums_idc")
            b.ue()  # abs_diff_pic_num_minus1 / long_term_pic_num / abs_diff_view_idx


def _skip_pred_weight_table(b: Bits, sps: Sps, refs: tuple[int, ...]) -> None:
    b.ue()  # luma_log2_weight_denom
    if sps.chroma_array_type:
        b.ue()  # chroma_log2_weight_denom
    for count in refs:
        for _ in range(count):
            if b.u(1):  # luma_weight_flag
                b.se()
                b.se()
            if sps.chroma_array_type and b.u(1):  # chroma_weight_flag
                for _ in range(4):
                    b.se()


def _skip_ref_pic_marking(b: Bits, idr: bool) -> None:
    if idr:
        b.u(2)  # no_output_of_prior_pics_flag, long_term_reference_flag
        return
    if b.u(1):  # adaptive_ref_pic_marking_mode_flag
        while (op := b.ue()) != 0:
            if op > 6:
                raise BitstreamError("bad memory_management_control_operation")
            if op in (1, 3):
                b.ue()  # difference_of_pic_nums_minus1
            if op == 2:
                b.ue()  # long_term_pic_num
            if op in (3, 6):
                b.ue()  # long_term_frame_idx
            if op == 4:
                b.ue()  # max_long_term_frame_idx_plus1


def parse_slice(head: bytes, kind: int, ref_idc: int, sps_of: dict[int, Sps],
                pps_of: dict[int, Pps]) -> tuple[str, int]:
    """(slice type, QP) from the start of a slice NAL (header byte included)."""
    b = Bits(rbsp(head))
    b.ue()  # first_mb_in_slice
    stype = b.ue() % 5
    pps = pps_of.get(b.ue())
    sps = sps_of.get(pps.sps_id) if pps is not None else None
    if pps is None or sps is None:
        raise BitstreamError("slice refers to a parameter set not seen yet")
    if sps.separate_colour_plane:
        b.u(2)
    b.u(sps.log2_max_frame_num)
    field = False
    if not sps.frame_mbs_only and b.u(1):  # field_pic_flag
        field = True
        b.u(1)  # bottom_field_flag
    if kind == NAL_IDR:
        b.ue()  # idr_pic_id
    if sps.poc_type == 0:
        b.u(sps.log2_max_poc_lsb)
        if pps.bottom_field_poc_present and not field:
            b.se()
    elif sps.poc_type == 1 and not sps.delta_poc_always_zero:
        b.se()
        if pps.bottom_field_poc_present and not field:
            b.se()
    if pps.redundant_pic_cnt_present:
        b.ue()
    refs: tuple[int, ...] = ()
    if stype == 1:  # B
        b.u(1)  # direct_spatial_mv_pred_flag
    if stype in (0, 1, 3):  # P, B, SP
        refs = pps.num_ref_idx_default if stype == 1 else pps.num_ref_idx_default[:1]
        if b.u(1):  # num_ref_idx_active_override_flag
            refs = (b.ue() + 1, b.ue() + 1) if stype == 1 else (b.ue() + 1,)
        for _ in refs:
            _skip_ref_list_modification(b)
        if (pps.weighted_pred and stype != 1) or (pps.weighted_bipred_idc == 1 and stype == 1):
            _skip_pred_weight_table(b, sps, refs)
    if ref_idc:
        _skip_ref_pic_marking(b, kind == NAL_IDR)
    if pps.cabac and stype in (0, 1, 3):
        b.ue()  # cabac_init_idc
    return SLICE_TYPES[stype], pps.pic_init_qp + b.se()


def annexb_units(data: bytes) -> list[bytes]:
    """NAL units of an Annex B byte stream (3- or 4-byte start codes)."""
    units: list[bytes] = []
    start = data.find(b"\x00\x00\x01")
    while start >= 0:
        start += 3
        end = data.find(b"\x00\x00\x01", start)
        stop = len(data) if end < 0 else end
        while end >= 0 and stop > start and data[stop - 1] == 0:
            stop -= 1  # the next start code's leading zero (trailing_zero_8bits)
        units.append(data[start:stop])
        start = end
    return units


def avcc_units(data: bytes, length_size: int) -> list[bytes]:
    """NAL units of an AVCC packet (each prefixed by its length, big-endian)."""
    units: list[bytes] = []
    pos = 0
    while pos + length_size <= len(data):
        n = int.from_bytes(data[pos:pos + length_size], "big")
        pos += length_size
        if n == 0 or pos + n > len(data):
            raise BitstreamError("AVCC length prefix runs past the packet")
        units.append(data[pos:pos + n])
        pos += n
    if pos != len(data):
        raise BitstreamError("AVCC packet ends inside a length prefix")
    return units


def _is_annexb(data: bytes) -> bool:
    return data.startswith(b"\x00\x00\x01") or data.startswith(b"\x00\x00\x00\x01")


class H264Reader:
    """Feed it whole frames (one packet, or a frame's slices joined) in stream order."""

    def __init__(self, extradata: bytes | None = None) -> None:
        self.sps: dict[int, Sps] = {}
        self.pps: dict[int, Pps] = {}
        self.length_size = 0  # 0: packets are Annex B
        if extradata and extradata[0] == 1 and len(extradata) >= 7:
            self._avcc_config(extradata)
        elif extradata and _is_annexb(extradata):
            for unit in annexb_units(extradata):
                self._parameter_set(unit)

    def _avcc_config(self, ext: bytes) -> None:
        """AVCDecoderConfigurationRecord: NAL length size, then the SPSs and PPSs."""
        self.length_size = (ext[4] & 3) + 1
        pos, units = 5, []
        for count_mask in (0x1F, 0xFF):
            if pos >= len(ext):
                raise BitstreamError("short avcC extradata")
            count = ext[pos] & count_mask
            pos += 1
            for _ in range(count):
                n = int.from_bytes(ext[pos:pos + 2], "big")
                units.append(ext[pos + 2:pos + 2 + n])
                pos += 2 + n
        for unit in units:
            self._parameter_set(unit)

    def _parameter_set(self, unit: bytes) -> None:
        kind = unit[0] & 0x1F if unit else 0
        if kind == NAL_SPS:
            sps_id, sps = parse_sps(unit)
            self.sps[sps_id] = sps
        elif kind == NAL_PPS:
            pps_id, pps = parse_pps(unit)
            self.pps[pps_id] = pps

    def units(self, data: bytes) -> list[bytes]:
        if self.length_size:
            # A length prefix can itself look like a start code (00 00 01 2c: 300 bytes),
            # so AVCC is tried first; it must use up the packet exactly.
            try:
                return avcc_units(data, self.length_size)
            except BitstreamError:
                if not _is_annexb(data):
                    raise
        return annexb_units(data)

    def frame(self, data: bytes) -> FrameInfo | None:
        """Slice type, QP and slice bytes of one frame; ``None`` when it holds no slice.
        Raises ``BitstreamError`` for what it cannot read."""
        first, qp_bytes, size, slices = "", 0, 0, 0
        for unit in self.units(data):
            if not unit:
                continue
            kind = unit[0] & 0x1F
            if kind in (NAL_SLICE, NAL_IDR):
                ref_idc = unit[0] >> 5 & 3
                try:
                    stype, qp = parse_slice(unit[:HEAD_BYTES], kind, ref_idc, self.sps,
                                            self.pps)
                except BitstreamError:
                    if len(unit) <= HEAD_BYTES:
                        raise
                    stype, qp = parse_slice(unit, kind, ref_idc, self.sps, self.pps)
                first = first or stype
                qp_bytes += qp * len(unit)
                size += len(unit)
                slices += 1
            elif kind in (NAL_SPS, NAL_PPS):
                self._parameter_set(unit)
        if not slices:
            return None
        return FrameInfo(first, qp_bytes / size, size, slices)
