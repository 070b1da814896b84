"""The sans-IO H.264 slice-header reader against real libx264 output (Debian ffmpeg).

Clips with a known QP (``-qp N`` and ip/pb ratios of 1: every slice carries N) in several
profiles and tools: baseline (CAVLC), main with B-frames, a B-pyramid (memory management
operations) and weighted prediction (pred_weight_table), high with MBAFF interlacing
(frame_mbs_only = 0) and 8x8 transforms, 4 slices per frame; both as MP4 (AVCC, parameter
sets in the extradata) and as an Annex B elementary stream (start codes, in-band SPS/PPS, as
RTSP delivers them).
"""

from __future__ import annotations

import logging
import subprocess
from pathlib import Path

import av
import pytest

from drivers.cameras.adaptive import ActivityWatch
from drivers.cameras.h264_slices import Bits, BitstreamError, FrameInfo, H264Reader, rbsp

CASES = {  # name: (x264 arguments, QP every slice must carry)
    "baseline": (["-profile:v", "baseline", "-qp", "31", "-x264-params",
                  "ipratio=1.0"], 31),
    "main-bframes-pyramid-weightp": (
        ["-profile:v", "main", "-qp", "27", "-bf", "3", "-x264-params",
         "b-pyramid=normal:weightp=2:ref=3:ipratio=1.0:pbratio=1.0"], 27),
    "high-mbaff": (["-profile:v", "high", "-qp", "22", "-x264-params",
                    "interlaced=1:ipratio=1.0:pbratio=1.0"], 22),
    "high-4-slices": (["-profile:v", "high", "-qp", "35", "-slices", "4", "-x264-params",
                       "ipratio=1.0:pbratio=1.0"], 35),
}


def _encode(path: Path, args: list[str], seconds: float = 3.0) -> Path:
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                    "testsrc2=size=320x240:rate=15", "-t", str(seconds), "-vf", "fade=in:0:20",
                    "-c:v", "libx264", *args, "-g", "15", "-pix_fmt", "yuv420p", str(path)],
                   check=True)
    return path


def _annexb(mp4: Path) -> Path:
    out = mp4.with_suffix(".h264")
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-i", str(mp4), "-c", "copy",
                    "-bsf:v", "h264_mp4toannexb", str(out)], check=True)
    return out


def _frames(path: Path) -> tuple[H264Reader, list[FrameInfo | None], list[bool]]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        reader = H264Reader(stream.codec_context.extradata)
        packets = [p for p in container.demux(stream) if p.size]
        infos = [reader.frame(bytes(p)) for p in packets]
        return reader, infos, [bool(p.is_keyframe) for p in packets]


@pytest.fixture(scope="module")
def encoded(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("h264")
    return {name: _encode(tmp / f"{name}.mp4", args) for name, (args, _) in CASES.items()}


def test_bits_reads_exp_golomb_codes() -> None:
    code = "1" "010" "011" "00100" "010" "00101" "0000"  # ue 0 1 2 3, se +1 -2, zeros
    b = Bits(int(code, 2).to_bytes(3, "big"))
    assert [b.ue(), b.ue(), b.ue(), b.ue()] == [0, 1, 2, 3]
    assert [b.se(), b.se()] == [1, -2]  # codeNum 1 -> +1, codeNum 4 -> -2
    with pytest.raises(BitstreamError):
        b.ue()  # only zeros left


def test_rbsp_drops_emulation_prevention_bytes_only() -> None:
    assert rbsp(b"\x65\x00\x00\x03\x01\x00\x00\x03\x00\x00\x00\x03\x03\x07") == \
        b"\x00\x00\x01\x00\x00\x00\x00\x00\x03\x07"


@pytest.mark.parametrize("name", list(CASES))
def test_every_slice_has_the_encoded_qp_in_mp4_and_annexb(encoded: dict[str, Path],
                                                         name: str) -> None:
    qp = CASES[name][1]
    for path in (encoded[name], _annexb(encoded[name])):
        reader, infos, keys = _frames(path)
        assert len(infos) == 45
        assert all(i is not None for i in infos), path
        frames = [i for i in infos if i is not None]
        assert {f.qp for f in frames} == {qp}, path
        assert [f.slice_type == "I" for f in frames] == keys, path
        assert {f.slices for f in frames} == ({4} if "4-slices" in name else {1})
        assert any(f.slice_type == "B" for f in frames) == (name != "baseline")
        assert reader.length_size == (0 if path.suffix == ".h264" else 4)


def test_the_tools_under_test_are_really_in_the_streams(encoded: dict[str, Path]) -> None:
    # Without these the cases above would not exercise the syntax they claim to.
    main, _, _ = _frames(encoded["main-bframes-pyramid-weightp"])
    assert main.pps[0].weighted_pred and main.pps[0].cabac
    mbaff, _, _ = _frames(encoded["high-mbaff"])
    assert not mbaff.sps[0].frame_mbs_only
    base, _, _ = _frames(encoded["baseline"])
    assert not base.pps[0].cabac


def test_cbr_stream_qp_follows_rate_control(tmp_path: Path) -> None:
    # A camera-like CBR stream: slice QPs vary frame to frame, and both packagings agree.
    mp4 = _encode(tmp_path / "cbr.mp4", ["-b:v", "200k", "-maxrate", "200k", "-bufsize",
                                         "200k", "-bf", "0", "-tune", "zerolatency"], 6.0)
    _, avcc, _ = _frames(mp4)
    _, annexb, _ = _frames(_annexb(mp4))
    assert [(f.slice_type, f.qp) for f in avcc if f] == [(f.slice_type, f.qp) for f in annexb
                                                         if f]
    qps = {f.qp for f in avcc if f}  # zerolatency: sliced threads, a mean over slices
    assert len(qps) >= 4 and min(qps) >= 0 and max(qps) <= 51, qps


def test_unknown_codec_and_garbage_fall_back_to_sizes(caplog: pytest.LogCaptureFixture,
                                                      encoded: dict[str, Path]) -> None:
    caplog.set_level(logging.INFO, "drivers.cameras.adaptive")
    hevc = ActivityWatch("hevc", None, name="cam1", margin=2.0, size_factor=2.0)
    assert hevc.mode == "size"
    assert "cam1" in caplog.text and "hevc" in caplog.text
    with av.open(str(encoded["baseline"])) as container:
        extradata = container.streams.video[0].codec_context.extradata
    watch = ActivityWatch("h264", extradata, name="cam2", margin=2.0, size_factor=2.0)
    assert watch.mode == "bitstream"
    # A slice that names a PPS the stream never sent: no crash, packet sizes from then on.
    assert watch.check(b"\x00\x00\x00\x01\x41\x9a\x1f", 7, False, 0.0, False) is False
    assert watch.mode == "size"
    assert caplog.text.count("packet sizes") == 2
    for i in range(60):  # the size trigger still works
        assert not watch.check(b"", 1000, False, i / 15, False)
    assert watch.check(b"", 5000, False, 4.0, False)
