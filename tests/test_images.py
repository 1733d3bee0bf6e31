"""The image check (``pixret.images.jpeg_size``) on real JPEGs: intact ones of every common encoding pass with their
displayed size; damaged ones (scan bytes flipped or zeroed, truncated, no end marker, markers out of order) are
refused in one line naming the file, in folders and in archives alike, with the image's role in the build's error."""

from __future__ import annotations

import io
import re
import struct
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image, ImageOps

from pixret import synthetic
from pixret.build import build
from pixret import images
from pixret.images import jpeg_size, open_images
from pixret.release import ReleaseError

ENCODINGS = {
    "baseline 4:2:0": {"quality": 90},
    "baseline 4:4:4": {"quality": 95, "subsampling": 0},
    "progressive": {"quality": 90, "progressive": True},
    "restart markers": {"quality": 90, "restart_marker_blocks": 4},
    "optimised tables": {"quality": 85, "optimize": True},
}


def picture(height: int = 192, width: int = 256, seed: int = 0) -> np.ndarray:
    """Something like a photograph for the encoder: smooth gradients and 8x8 blocks of noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    base = np.stack([xx * 255 // width, yy * 255 // height, (xx + yy) * 255 // (width + height)], -1)
    noise = rng.integers(0, 60, (height // 8, width // 8, 1)).repeat(8, 0).repeat(8, 1)
    return (base + noise).clip(0, 255).astype(np.uint8)


def encoded(pixels: np.ndarray, mode: str = "RGB", **options) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).convert(mode).save(buffer, "JPEG", **options)
    return buffer.getvalue()


def scan(data: bytes) -> tuple[int, int]:
    """Where the last scan's entropy-coded data starts and ends (the EOI marker)."""
    sos = data.rfind(b"\xff\xda")
    assert sos > 0 and data.endswith(b"\xff\xd9")
    return sos + 2 + int.from_bytes(data[sos + 2:sos + 4], "big"), len(data) - 2


def refused(data: bytes, where: str = "photo.jpg") -> str | None:
    """The check's one-line error, or None when the image passes."""
    try:
        jpeg_size(data, where)
    except ReleaseError as err:
        message = str(err)
        assert "\n" not in message and message.startswith(f"{where}: ")
        return message
    return None


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_intact_jpegs_of_every_encoding_pass_with_their_size(encoding):
    assert jpeg_size(encoded(picture(), **ENCODINGS[encoding]), "photo.jpg") == (192, 256)


@pytest.mark.parametrize("mode", ["L", "CMYK"])
def test_grayscale_and_cmyk_jpegs_pass(mode):
    assert jpeg_size(encoded(picture(), mode, quality=90), "photo.jpg") == (192, 256)


def test_displayed_size_follows_the_exif_orientation():
    data = synthetic.jpeg_bytes(picture(), orientation=6)  # rotated by 90 degrees when shown
    assert jpeg_size(data, "photo.jpg") == (256, 192)


def _with_app1(data: bytes, payload: bytes) -> bytes:
    return data[:2] + b"\xff\xe1" + (len(payload) + 2).to_bytes(2, "big") + payload + data[2:]


def test_displayed_size_follows_an_xmp_orientation():
    """Pillow also takes the orientation from XMP (an APP1 segment too) when there is no EXIF: so does the check."""
    xmp = b'http://ns.adobe.com/xap/1.0/\x00<x:xmpmeta><rdf:Description tiff:Orientation="6"/></x:xmpmeta>'
    assert jpeg_size(_with_app1(encoded(picture(), quality=90), xmp), "photo.jpg") == (256, 192)


def test_a_multi_picture_file_is_no_jpeg():
    buffer = io.BytesIO()
    Image.fromarray(picture()).save(buffer, "MPO", save_all=True, append_images=[Image.fromarray(picture(seed=1))])
    assert refused(buffer.getvalue()) == "photo.jpg: not a JPEG (MPO)"


def _segment(marker: int, payload: bytes) -> bytes:
    return bytes([0xFF, marker]) + (len(payload) + 2).to_bytes(2, "big") + payload


# Segments libjpeg-turbo reads past but Pillow's header reading fails on (found by an adversarial pass): a JFIF or
# Adobe segment too short for the version Pillow reads, a Photoshop block cut before its name's length, an ICC chunk
# too short for its count (read when the frame is)
SHORT_SEGMENTS = {"JFIF": _segment(0xE0, b"JFIF\x00"), "Adobe": _segment(0xEE, b"Adobe"),
                  "Photoshop": _segment(0xED, b"Photoshop 3.0\x00" + b"8BIM\x04\x04"),
                  "ICC": _segment(0xE2, b"ICC_PROFILE\x00\x01")}


@pytest.mark.parametrize("name", SHORT_SEGMENTS)
def test_a_header_pillow_cannot_read_is_refused_as_before(name, monkeypatch):
    """libjpeg-turbo alone would take these files; Pillow cannot open them (nor could a user's ``datasets``): the
    check leaves them to Pillow, whose refusal is the error, as when Pillow read every header."""
    data = encoded(picture(), "L", quality=90)
    data = data[:2] + SHORT_SEGMENTS[name] + data[2:]
    assert images._plain_jpeg_size(data) is None
    assert refused(data) == _pillow_path(data, monkeypatch) == \
        "photo.jpg: corrupt or unreadable JPEG (no image format recognised)"


# 24 x 24 pixels, every block zero, luma sampled 1 x 4 and chroma 1 x 1 (4:4:1), written by hand: libjpeg-turbo 3 names
# this sampling with a code simplejpeg's header reading has no name for (it raises KeyError)
SAMPLING_441 = bytes.fromhex(
    "ffd8ffdb00430001010101010101010101010101010101010101010101010101010101010101010101010101010101010101010101010101"
    "010101010101010101010101010101ffc00011080018001803011400021100031100ffc400d2000001050101010101010000000000000000"
    "0102030405060708090a0b100002010303020403050504040000017d01020300041105122131410613516107227114328191a1082342b1c1"
    "1552d1f02433627282090a161718191a25262728292a3435363738393a434445464748494a535455565758595a636465666768696a737475"
    "767778797a838485868788898a92939495969798999aa2a3a4a5a6a7a8a9aab2b3b4b5b6b7b8b9bac2c3c4c5c6c7c8c9cad2d3d4d5d6d7d8"
    "d9dae1e2e3e4e5e6e7e8e9eaf1f2f3f4f5f6f7f8f9faffda000c03010002000300003f0028a28a28a28a28a28a28a28a28afffd9")


def test_a_sampling_simplejpeg_cannot_name_is_read_by_pillow():
    assert images._plain_jpeg_size(SAMPLING_441) is None
    assert jpeg_size(SAMPLING_441, "photo.jpg") == (24, 24)


def _lossless(width: int, height: int, precision: int = 8) -> bytes:
    """A grayscale lossless JPEG (SOF3, predictor 1) whose every difference is 0, written by hand: SOF3, the standard
    luminance DC table, one scan of width * height codes '00' (category 0), the end marker."""
    frame = bytes([precision]) + height.to_bytes(2, "big") + width.to_bytes(2, "big") + b"\x01\x01\x11\x00"
    table = b"\x00" + bytes([0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0]) + bytes(range(12))
    return (b"\xff\xd8" + _segment(0xC3, frame) + _segment(0xC4, table) + _segment(0xDA, b"\x01\x01\x00\x01\x00\x00")
            + bytes(width * height // 4) + b"\xff\xd9")


LOSSLESS_CHECK = """
import sys
from pixret.images import jpeg_size, open_jpeg
from pixret.errors import ReleaseError
data = sys.stdin.buffer.read()
for name, read in (("check", lambda: jpeg_size(data, "photo.jpg")),
                   ("thumbnail", lambda: open_jpeg(data, "photo.jpg", 8))):
    try:
        print(name, "read", read())
    except ReleaseError as err:
        print(name, "refused:", err)
"""


# what an adversarial pass put before a lossless frame to hide it from a stricter walk than libjpeg-turbo's (which
# reads on past each of them, with no warning or with one only strict decoding stops at)
HIDERS = {"nothing": b"", "a segment of length 0": b"\xff\xfe\x00\x00", "a stuffed zero": b"\xff\x00",
          "bytes out of place": _segment(0xFE, b"hi") + b"\x41"}


@pytest.mark.parametrize("hider", HIDERS)
@pytest.mark.parametrize("width, height, precision", [(64, 64, 8), (8, 4, 7)])
def test_a_lossless_jpeg_is_refused_before_anything_decodes_it(width, height, precision, hider):
    """libjpeg-turbo 3 ignores the reduced scale of the check (1/8) and of a thumbnail (Pillow's draft) for a lossless
    frame, and writes the whole picture past the smaller buffer: the process crashed (a heap overrun). Run in a child
    process: a crash is then this test's failure, not the session's."""
    data = _lossless(width, height, precision)
    data = data[:2] + HIDERS[hider] + data[2:]
    if precision == 8:  # (Pillow refuses other precisions when it opens a file)
        assert Image.open(io.BytesIO(data)).convert("RGB").size == (width, height)  # a valid JPEG, at full scale
    done = subprocess.run([sys.executable, "-c", LOSSLESS_CHECK], input=data, capture_output=True, timeout=120)
    said = ("refused: photo.jpg: a lossless JPEG (SOF3 frame), which pixret does not read: re-encode it as a "
            "baseline JPEG")
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    assert done.stdout.decode().splitlines() == [f"check {said}", f"thumbnail {said}"]


def test_a_jpeg_of_too_many_scans_is_refused_before_anything_decodes_it():
    """libjpeg-turbo reads every scan, with no limit of its own: thousands of scans of a large frame took tens of
    seconds per image. Encoders write about 10."""
    data = encoded(picture(), **ENCODINGS["progressive"])
    assert jpeg_size(data, "photo.jpg") == (192, 256)
    last = data.rfind(b"\xff\xda")
    data = data[:last] + data[last:-2] * (images.MAX_SCANS + 1 - data.count(b"\xff\xda") + 1) + data[-2:]
    message = f"photo.jpg: a JPEG of {images.MAX_SCANS + 1} scans of 256x192 pixels, more than pixret reads"
    for read in (lambda: jpeg_size(data, "photo.jpg"), lambda: images.open_jpeg(data, "photo.jpg", 64)):
        with pytest.raises(ReleaseError, match=re.escape(message)):
            read()


def test_scans_times_pixels_are_bounded(monkeypatch):
    """A refinement scan costs a pass over the frame however few its bytes: 100 of them over 13368 x 13368 pixels took
    18 s. The bound is on scans x pixels (here lowered to this picture's size)."""
    data = encoded(picture(), **ENCODINGS["progressive"])
    scans = data.count(b"\xff\xda")
    monkeypatch.setattr(images, "MAX_SCAN_PIXELS", scans * 192 * 256)
    assert jpeg_size(data, "photo.jpg") == (192, 256)
    monkeypatch.setattr(images, "MAX_SCAN_PIXELS", scans * 192 * 256 - 1)
    with pytest.raises(ReleaseError, match=re.escape(f"photo.jpg: a JPEG of {scans} scans of 256x192 pixels")):
        jpeg_size(data, "photo.jpg")


def _exif(*entries) -> bytes:
    """An APP1 EXIF segment: little-endian TIFF, IFD0 only, each (tag, type, count, value of at most 4 bytes)."""
    ifd = struct.pack("<H", len(entries)) + b"".join(struct.pack("<HHI", tag, kind, count) + value.ljust(4, b"\0")
                                                      for tag, kind, count, value in sorted(entries)) + bytes(4)
    return _segment(0xE1, b"Exif\0\0II*\0\x08\0\0\0" + ifd)


def test_an_exif_that_datasets_cannot_turn_upright_is_refused():
    """datasets turns every image upright when it loads it (ImageOps.exif_transpose), writing its EXIF again without
    the orientation: a tag stored with another type than the one Pillow knows it by (Make as a float, here) makes
    that raise, so users could not load the image. The check says so, as does a thumbnail, in one line."""
    rotated = (0x0112, 3, 1, b"\x06\x00")  # orientation 6, a SHORT
    plain = encoded(picture(), quality=90)
    good = plain[:2] + _exif(rotated) + plain[2:]
    crafted = plain[:2] + _exif(rotated, (0x010F, 11, 1, b"\x00\x00\x80\x3f")) + plain[2:]
    assert jpeg_size(good, "photo.jpg") == (256, 192)
    with pytest.raises(Exception):
        ImageOps.exif_transpose(Image.open(io.BytesIO(crafted)))  # what datasets' decoding does
    message = "photo.jpg: its EXIF cannot be written again by Pillow once the image is turned upright (AttributeError"
    for read in (lambda: jpeg_size(crafted, "photo.jpg"), lambda: images.open_jpeg(crafted, "photo.jpg", 64)):
        with pytest.raises(ReleaseError, match=re.escape(message)):
            read()
    image, size = images.open_jpeg(good, "photo.jpg")
    assert image.size == (192, 256) and size == (256, 192)
    assert image.tobytes() == ImageOps.exif_transpose(Image.open(io.BytesIO(good))).convert("RGB").tobytes()


@pytest.mark.parametrize("tiff", [b"II*\0", b"II*\0\x08\0\0", b"II+\0\x08\0\0\0"])
def test_an_exif_pillow_cannot_read_is_refused(tiff):
    """A TIFF header cut short, or BigTIFF's: Pillow's EXIF reading raises struct.error (when a JFIF density is given,
    nothing before it catches that), as it would in a user's datasets."""
    jfif = _segment(0xE0, b"JFIF\0\x01\x01\x01\x00\x48\x00\x48\0\0")
    data = encoded(picture(), quality=90)
    data = data[:2] + jfif + _segment(0xE1, b"Exif\0\0" + tiff) + data[data.index(b"\xff", 2):]
    for read in (lambda: jpeg_size(data, "photo.jpg"), lambda: images.open_jpeg(data, "photo.jpg", 64)):
        with pytest.raises(ReleaseError, match=re.escape("photo.jpg: its EXIF cannot be read by Pillow (")):
            read()


def test_an_xmp_orientation_beside_an_exif_without_one_is_taken():
    """Pillow merges an XMP orientation into the EXIF it reads: the EXIF itself, without one, is written again as is."""
    xmp = b'http://ns.adobe.com/xap/1.0/\x00<x:xmpmeta><rdf:Description tiff:Orientation="6"/></x:xmpmeta>'
    data = encoded(picture(), quality=90)
    data = data[:2] + _exif((0x010F, 2, 4, b"cam\0")) + _segment(0xE1, xmp) + data[2:]
    assert jpeg_size(data, "photo.jpg") == (256, 192)
    assert images.open_jpeg(data, "photo.jpg")[0].size == (192, 256)


def test_a_frame_marker_inside_a_segment_is_not_a_frame():
    """The lossless frame is found by following the segments: its marker's bytes inside another segment's data (an
    application segment, here) are not one."""
    data = encoded(picture(), quality=90)
    data = data[:2] + _segment(0xEF, b"\xff\xc3\x00\x0b\x08") + data[2:]
    assert jpeg_size(data, "photo.jpg") == (192, 256)


def _pillow_path(data: bytes, monkeypatch):
    """What the check says with Pillow reading every header: (height, width), or its error."""
    with monkeypatch.context() as patch:
        patch.setattr(images, "_plain_jpeg_size", lambda data: None)
        try:
            return jpeg_size(data, "photo.jpg")
        except ReleaseError as err:
            return str(err)


def test_the_header_read_without_pillow_gives_what_pillow_gives(monkeypatch):
    """The check reads most headers with libjpeg-turbo alone (outside the GIL: the build's image checks run on
    threads). On intact JPEGs of every kind, and on each byte of their headers damaged in turn, it either gives
    the size that the check through Pillow gives, or leaves the file to Pillow: it never takes what Pillow's path
    refuses, nor gives another size (an orientation it cannot see, a multi-picture file, a decompression bomb)."""
    exif = Image.Exif()
    exif[0x0112] = 6
    intact = {
        **{name: encoded(picture(), **options) for name, options in ENCODINGS.items()},
        "grayscale": encoded(picture(), "L", quality=90), "CMYK": encoded(picture(), "CMYK", quality=90),
        "EXIF orientation": encoded(picture(), quality=90, exif=exif.tobytes()),
        "JFIF revision 2": _with_jfif_revision_2(encoded(picture(), quality=90)),
        "bad ICC segment": _with_a_bad_icc_segment(encoded(picture(), quality=90)),
    }
    taken = 0
    for name, data in intact.items():
        sos = data.index(b"\xff\xda")  # the header: every segment up to the first scan's
        header = sos + 2 + int.from_bytes(data[sos + 2:sos + 4], "big")
        variants = [data] + [data[:at] + bytes([value]) + data[at + 1:] for at in range(header)
                             for value in {0x00, 0xFF, data[at] ^ 0x80} - {data[at]}]
        for k, variant in enumerate(variants):
            fast = images._plain_jpeg_size(variant)
            if fast is not None:
                taken += 1
                assert fast == _pillow_path(variant, monkeypatch), f"{name}, variant {k}"
        expected = (256, 192) if name == "EXIF orientation" else (192, 256)
        assert jpeg_size(data, "photo.jpg") == _pillow_path(data, monkeypatch) == expected
    assert images._plain_jpeg_size(intact["EXIF orientation"]) is None
    assert taken > 1000  # most variants: a damaged header byte libjpeg-turbo reads past (a table value, ...)
    with monkeypatch.context() as patch:  # past Pillow's pixel limit: Pillow's warning or refusal, as before
        patch.setattr(Image, "MAX_IMAGE_PIXELS", 192 * 256 - 1)
        assert images._plain_jpeg_size(intact["grayscale"]) is None


def _with_jfif_revision_2(data: bytes) -> bytes:
    at = data.index(b"JFIF\x00") + 5
    return data[:at] + b"\x02" + data[at + 1:]


def _with_a_bad_icc_segment(data: bytes) -> bytes:
    icc = b"ICC_PROFILE\x00\x03\x02" + bytes(100)  # chunk 3 of 2
    return data[:2] + b"\xff\xe2" + (len(icc) + 2).to_bytes(2, "big") + icc + data[2:]


@pytest.mark.parametrize("quirk", [_with_jfif_revision_2, _with_a_bad_icc_segment])
def test_application_segment_quirks_pass_and_their_scan_is_still_checked(quirk):
    """libjpeg-turbo warns of an unknown JFIF revision or a misnumbered ICC chunk: the file's pictures are fine, so
    the check looks at the scan without those segments; a damaged scan in such a file is still refused."""
    data = encoded(picture(), quality=90)
    assert jpeg_size(quirk(data), "photo.jpg") == (192, 256)
    start, end = scan(data)
    message = refused(quirk(data[: (start + end) // 2] + b"\xff\xd9"))
    assert message == "photo.jpg: corrupt or unreadable JPEG (Corrupt JPEG data: premature end of data segment)"


@pytest.mark.parametrize("encoding", ENCODINGS)
@pytest.mark.parametrize("cut", [0.1, 0.5, 0.95])
def test_truncated_files_are_refused(encoding, cut):
    data = encoded(picture(), **ENCODINGS[encoding])
    start, end = scan(data)
    message = refused(data[: start + int(cut * (end - start))])
    assert message and "corrupt or unreadable JPEG" in message


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_missing_end_of_image_marker_is_refused(encoding):
    data = encoded(picture(), **ENCODINGS[encoding])
    assert refused(data[:-2]) == "photo.jpg: corrupt or unreadable JPEG (Premature end of JPEG file)"


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_scan_cut_short_yet_closed_by_an_end_marker_is_refused(encoding):
    """A partial download whose end marker was put back: every marker is there, the last blocks are not."""
    data = encoded(picture(), **ENCODINGS[encoding])
    start, end = scan(data)
    message = refused(data[: (start + end) // 2] + b"\xff\xd9")
    assert message == "photo.jpg: corrupt or unreadable JPEG (Corrupt JPEG data: premature end of data segment)"


def test_bytes_left_over_after_the_last_block_are_refused():
    data = encoded(picture(), quality=90)
    message = refused(data[:-2] + bytes(range(1, 17)) + data[-2:])
    assert message and "extraneous bytes before marker 0xd9" in message


def test_restart_markers_out_of_sequence_are_refused():
    data = bytearray(encoded(picture(), **ENCODINGS["restart markers"]))
    rst0, rst1 = data.index(b"\xff\xd0"), data.index(b"\xff\xd1")
    data[rst0 + 1], data[rst1 + 1] = 0xD1, 0xD0  # two restart intervals' markers swapped
    message = refused(bytes(data))
    assert message and "instead of RST" in message


@pytest.mark.parametrize("marker, said", [(b"\xff\xdb", "(Quantization table 0x00 was not defined)"),
                                          (b"\xff\xda", "(no image format recognised)")])  # the scan's start
def test_a_marker_turned_into_another_is_refused(marker, said):
    data = bytearray(encoded(picture(), quality=90))
    at = data.index(marker)
    data[at + 1] = 0xEF  # an application segment now: the decoder never sees what it held
    message = refused(bytes(data))
    assert message and "corrupt or unreadable JPEG" in message and said in message


def test_a_png_is_no_jpeg():
    buffer = io.BytesIO()
    Image.fromarray(picture()).save(buffer, "PNG")
    assert refused(buffer.getvalue()) == "photo.jpg: not a JPEG (PNG)"


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_damaged_scan_data_is_caught(seed):
    """Bytes of the entropy-coded data flipped, deleted, inserted or zeroed, at 40 places each, in photo-like
    JPEGs: Pillow's own decode accepts every one of them. The strict decode catches most single-byte damage (a
    damaged byte that only changes a coefficient's value, or that the Huffman codes resynchronise after within the
    same block count, cannot be seen: JPEG has no checksum) and nearly all damage of a disk sector's size."""
    data = encoded(picture(seed=seed), quality=90)
    start, end = scan(data)
    places = np.linspace(start, end - 600, 40).astype(int)
    damages = {
        "one byte inverted": lambda d, at: d[:at] + bytes([d[at] ^ 0xFF]) + d[at + 1:],
        "one byte deleted": lambda d, at: d[:at] + d[at + 1:],
        "one byte inserted": lambda d, at: d[:at] + b"\x5a" + d[at:],
        "64 bytes zeroed": lambda d, at: d[:at] + bytes(64) + d[at + 64:],
        "a 512-byte sector zeroed": lambda d, at: d[:at] + bytes(512) + d[at + 512:],
    }
    at_least = {"one byte inverted": 14, "one byte deleted": 8, "one byte inserted": 5, "64 bytes zeroed": 36,
                "a 512-byte sector zeroed": 38}  # of 40; measured 19-23, 11-19, 8-14, 40, 40 over the seeds
    for damage, make in damages.items():
        messages = [refused(make(data, int(at))) for at in places]
        caught = [m for m in messages if m]
        assert len(caught) >= at_least[damage], f"{damage}: {len(caught)} of 40 caught"
        assert all(m.startswith("photo.jpg: corrupt or unreadable JPEG (") for m in caught)


def _damaged(data: bytes) -> bytes:
    """A scan cut in the middle and closed again: always caught."""
    start, end = scan(data)
    return data[: (start + end) // 2] + b"\xff\xd9"


@pytest.mark.parametrize("num_proc", [1, 2])
def test_damaged_archive_member_is_named_with_its_role(release, tmp_path, num_proc):
    """The build's one-line error names the archive, the member, what libjpeg-turbo said and what the image is
    for; checking in the reading thread (one worker) or on a pool says the same."""
    gnd = release["gnd"]
    junk = gnd["imlist"][gnd["gnd"][0]["junk"][0]]
    jpg = release["root"] / "revisitop/data/roxford5k/jpg"
    images = {p.stem: p.read_bytes() for p in sorted(jpg.glob("*.jpg"))}
    images[junk] = _damaged(encoded(picture(), quality=90))  # a junk image: no label asks for its size
    archive = synthetic.write_archive(tmp_path / "oxbuild_images.tgz", images)
    with pytest.raises(ReleaseError) as err:
        build("proxford", release["root"], tmp_path / "out", images=[archive], num_proc=num_proc)
    message = str(err.value)
    assert message.startswith("1 of the 16 images the ground truth lists are missing or corrupt: ")
    assert (f"{archive}: {junk}.jpg: corrupt or unreadable JPEG (Corrupt JPEG data: premature end of data "
            f"segment) [index image {gnd['imlist'].index(junk)}: ") in message and "junk of 2 queries (0, 1)" in message
    assert "\n" not in message and not (tmp_path / "out").exists()


@pytest.mark.parametrize("num_proc", [1, 2])
def test_folder_and_archive_checks_agree(release, tmp_path, num_proc):
    """The same images, damaged the same way, give the same problems from a folder and from an archive."""
    jpg = release["root"] / "revisitop/data/roxford5k/jpg"
    names = sorted(p.stem for p in jpg.glob("*.jpg"))
    for name in names[:3]:
        (jpg / f"{name}.jpg").write_bytes(_damaged(encoded(picture(seed=len(name)), quality=90)))
    archive = synthetic.write_archive(tmp_path / "images.tgz", {n: (jpg / f"{n}.jpg").read_bytes() for n in names})
    problems = {}
    for source in (jpg, archive):
        images = open_images([source], workers=num_proc)
        assert images.load(names, progress=False) == []
        found = images.check(names, progress=False)
        problems[source] = {name: problem.split("corrupt or unreadable JPEG")[1] for name, problem in found.items()}
        assert all(images.where(name) in problem for name, problem in found.items())
    assert sorted(problems[jpg]) == names[:3] and problems[jpg] == problems[archive]
