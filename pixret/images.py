"""Where the JPEGs come from: folders of ``<name>.jpg`` and/or the original ``.tgz`` archives.

Archives are read the way revisitop's ``download.py`` extracts them: members are
matched by file name, sub-folders ignored (Oxford's archive is flat, Paris's
``paris/<landmark>/<name>.jpg`` is split over two archives). One rule names an image file
in folders and archives alike (``image_name``: ``<name>.jpg``, the extension in any case);
two different files of one name (``a.jpg`` and ``a.JPG``, or copies in two archives) stop
the build, two identical ones are one image. Each archive is read
once, as a stream, and only the wanted members are kept in memory; nothing is
extracted to disk. Every image is checked once (``jpeg_size``): its size as displayed is read (EXIF
orientation applied: by Pillow where a header may hold one, by libjpeg-turbo alone elsewhere), then libjpeg-turbo
decodes its whole entropy-coded data at 1/8 scale with its warnings taken as errors (Pillow alone decodes a damaged
scan without a word). Archive images are checked on worker threads while the archive streams by.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import math
import os
import tarfile
import zlib
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from functools import cached_property
from pathlib import Path

import simplejpeg
from zlib_ng import gzip_ng, zlib_ng
from PIL import Image, UnidentifiedImageError
from pixret.progress import bar as progress_bar

from pixret.errors import ReleaseError
from pixret.metric.files import safe_pickle

EXIF_ORIENTATION = 0x0112
ARCHIVE_SUFFIXES = (".tgz", ".tar.gz", ".tar")


def jpeg_size(data: bytes, where) -> tuple[int, int]:
    """(height, width) of a JPEG as displayed, i.e. after EXIF orientation; ReleaseError naming ``where`` if it is
    no JPEG or a damaged one.

    A lossless JPEG, or one of too many scans, is refused before anything decodes it (``_refuse_unsafe``). Pillow
    reads the markers, the size and the EXIF orientation (or libjpeg-turbo, see below). libjpeg-turbo (through
    simplejpeg) then decodes the whole entropy-coded data at 1/8 scale, where each 8x8 block is one pixel: every
    Huffman code is still read, only the inverse DCTs are skipped. Its warnings are errors: a scan that ends before
    its last block (truncated, or desynchronised by damaged bytes), bytes left over before a marker, a bad Huffman
    code, restart markers out of sequence, no end-of-image marker. Pillow decodes all of these without a word,
    filling the rest with grey.
    Warnings about application segments only (an unknown JFIF revision, a misnumbered ICC chunk) are not: the scan
    is then checked on a copy without those segments.
    JPEG has no checksum: damage still goes unseen where it only changes coefficients' values, or where the Huffman
    codes fall back into step within the same number of blocks (about half of single damaged bytes, a few zeroed
    512-byte sectors in a hundred, in tests/test_images.py's pictures).

    Most JPEGs need nothing of Pillow's header reading (``_plain_jpeg_size``): libjpeg-turbo alone reads their
    header and checks their scan, outside the GIL. Any other JPEG, and any that fails there, takes the path above,
    which says what is wrong."""
    _refuse_unsafe(data, where)
    size = _plain_jpeg_size(data)
    if size is not None:
        return size
    with _decoding(where):
        with Image.open(io.BytesIO(data)) as im:
            size = _displayed_size(im, where)
            colorspace = "CMYK" if im.mode == "CMYK" else "GRAY"  # what libjpeg-turbo converts to cheaply
        try:
            _decode_strictly(data, colorspace)
        except ValueError as err:
            if not str(err).startswith(_HEADER_ONLY_WARNINGS):
                raise
            _decode_strictly(_without_application_segments(data), colorspace)  # the scan is still checked
    return size


_LOSSLESS_FRAMES = (0xC3, 0xC7, 0xCB, 0xCF)  # SOF3, SOF7, SOF11, SOF15


_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}  # frame markers (not DHT, JPG, DAC)


def _markers(data: bytes):
    """(marker, start, end, odd) of each marker of a JPEG up to its first scan's (SOS) or the end's (EOI), both
    yielded, found as libjpeg-turbo's marker reader (and Pillow's) finds them: bytes out of place and stuffed zeros
    (FF 00) skipped to the next 0xFF, fill bytes stepped over, a marker without a length (RSTn, TEM, SOI, a stuffed
    zero) taken as two bytes, a segment length under 2 read as 2. ``odd``: bytes were skipped before it, or its
    length is under 2 (readers that want a well-formed header refuse it; an adversarial pass hid a lossless frame
    behind each of these from a stricter walk). Stops where the data ends."""
    at, size, skipped = 2, len(data), False
    while True:
        found = at if at < size and data[at] == 0xFF else data.find(b"\xff", at)  # (most often right there)
        if found < 0 or found + 1 >= size:
            return
        skipped, at = skipped or found != at, found  # (until the next marker: fill bytes do not clear it)
        marker = data[at + 1]
        if marker == 0xFF:  # a fill byte
            at += 1
            continue
        if marker in (0x00, 0x01) or 0xD0 <= marker <= 0xDA:  # no length (RSTn, SOI, EOI, TEM, FF 00), or SOS
            yield marker, at, at + 2, skipped
            if marker in (0xD9, 0xDA):  # the end, or the first scan
                return
            end = at + 2
        elif at + 4 > size:
            return
        else:
            length = data[at + 2] << 8 | data[at + 3]
            end = at + 2 + max(2, length)
            yield marker, at, end, skipped or length < 2
        at, skipped = end, False


def _frame(data: bytes) -> tuple[int, int, int] | None:
    """(marker, height, width) of a JPEG's frame (its first SOFn segment before the first scan, as libjpeg-turbo reads
    it: ``_markers``), or None."""
    for marker, at, _, _ in _markers(data):
        if marker in _SOF:
            sides = data[at + 5:at + 9]
            return (marker, *(int.from_bytes(sides[k:k + 2], "big") for k in (0, 2))) if len(sides) == 4 else \
                (marker, 0, 0)
    return None


MAX_SCANS = 100  # encoders write 1 scan (baseline) or about 10 (progressive); decoding time grows with each
MAX_SCAN_PIXELS = 2**30  # scans x pixels: a progressive refinement scan costs ~1 ns a pixel, however empty


def _refuse_unsafe(data: bytes, where) -> None:
    """Refuse, in one line naming ``where``, a JPEG that decoding would crash on or spend unbounded time on:

    - a lossless one: libjpeg-turbo 3 ignores the reduced scales pixret decodes at (the check's 1/8, a thumbnail's
      draft) for a lossless frame and writes the full-size picture past the smaller buffer it was given, corrupting
      the process's memory (a crash, found by an adversarial pass);
    - one of more than MAX_SCANS scans, or of more scans x pixels than MAX_SCAN_PIXELS: libjpeg-turbo reads every
      scan, with no limit of its own, and each costs a pass over the frame however few its bytes (6,000 empty scans
      of 4096 x 4096 pixels, or 100 refinement scans of 13368 x 13368, took 15-18 s; found by the same passes; a
      10-scan photo of 100 megapixels is within). Start-of-scan markers are counted in the whole file, an embedded
      thumbnail's included: a bound, not a parse."""
    frame = _frame(data)
    if frame is not None and frame[0] in _LOSSLESS_FRAMES:
        raise ReleaseError(f"{where}: a lossless JPEG (SOF{frame[0] - 0xC0} frame), which pixret does not read: "
                           "re-encode it as a baseline JPEG")
    scans = data.count(b"\xff\xda")
    pixels = 0 if frame is None else frame[1] * frame[2]
    if scans > MAX_SCANS or scans * pixels > MAX_SCAN_PIXELS:
        raise ReleaseError(f"{where}: a JPEG of {scans} scans of {frame[2] if frame else '?'}x"
                           f"{frame[1] if frame else '?'} pixels, more than pixret reads (at most {MAX_SCANS} scans "
                           f"and {MAX_SCAN_PIXELS:,} scans x pixels; encoders write 1 scan, or about 10 when "
                           "progressive, and each costs a pass over the image): re-encode it")


def _plain_jpeg_size(data: bytes) -> tuple[int, int] | None:
    """(height, width) of a JPEG whose header libjpeg-turbo reads alone, its scan checked as ``jpeg_size`` does; None
    for any other JPEG and for any problem (``jpeg_size`` then reads it with Pillow, and says what is wrong).

    Pillow's header reading (Python, holding the GIL: ~0.3 s of a 2-core build's 2.8 s of image checks) adds
    nothing to these JPEGs (``_plain_segments``), within Pillow's decompression-bomb limit (Pillow warns or refuses
    past it). Never raises: whatever goes wrong here is left to Pillow's reading (simplejpeg raises KeyError, not
    ValueError, for a sampling it has no name for, such as libjpeg-turbo 3's 4:4:1)."""
    if not _plain_segments(data):
        return None
    try:
        height, width, colorspace, _ = simplejpeg.decode_jpeg_header(data, strict=True)
        if Image.MAX_IMAGE_PIXELS is not None and height * width > Image.MAX_IMAGE_PIXELS:
            return None
        _decode_strictly(data, "CMYK" if colorspace in ("CMYK", "YCCK") else "GRAY")
    except Exception:  # noqa: BLE001 - any failure: Pillow's reading says what it is
        return None
    return height, width


# The shortest application segments Pillow's header reading takes (payload bytes, the marker and length not
# counted): it reads a JFIF version at bytes 5-6 and an Adobe one at 5-6 without a length check, and the ICC chunk
# count at byte 13; short ones make it fail where libjpeg-turbo reads on (tests/test_images.py)
_SHORTEST = {0xE0: (b"JFIF", 14), 0xEE: (b"Adobe", 12), 0xE2: (b"ICC_PROFILE\x00", 14)}


# markers whose segment Pillow reads for more than libjpeg-turbo does (APP1: EXIF, XMP; APP13: Photoshop), and markers
# without a length (RSTn, SOI, EOI, TEM, none): their files are left to Pillow
_LEFT_TO_PILLOW = bytes(m < 0xC0 or 0xD0 <= m <= 0xD9 or m in (0xE1, 0xED) for m in range(256))


def _plain_segments(data: bytes) -> bool:
    """Whether the segments before a JPEG's first scan are well formed, and all of them of kinds whose reading by
    Pillow adds nothing to libjpeg-turbo's: no APP1 (EXIF, XMP: an orientation), no APP2 MPF (a multi-picture
    file: Pillow's MPO), no APP13 (Photoshop's resource blocks, which Pillow parses), no JFIF, Adobe or ICC segment
    shorter than Pillow reads (``_SHORTEST``), no marker without a length; nothing ``odd`` (``_markers``)."""
    if data[:2] != b"\xff\xd8":
        return False
    for marker, at, end, odd in _markers(data):
        if odd:
            return False
        if marker == 0xDA:  # start of scan
            return True
        if _LEFT_TO_PILLOW[marker]:
            return False
        if marker in _SOF and (marker in _LOSSLESS_FRAMES or at + 4 >= len(data) or data[at + 4] != 8):
            return False  # a frame: 8-bit lossy only
        if marker == 0xE2 and data.startswith(b"MPF\x00", at + 4):
            return False
        if marker in _SHORTEST:
            name, shortest = _SHORTEST[marker]
            if data.startswith(name, at + 4) and min(end, len(data)) - (at + 4) < shortest:
                return False
    return False


# libjpeg-turbo's warnings about application segments (JFIF, ICC, Adobe) that say nothing of the frame or the scan:
# the check then runs again on a copy without those segments, so that the scan data is still judged
_HEADER_ONLY_WARNINGS = ("Warning: unknown JFIF revision number", "Warning: unknown Adobe color transform code",
                        "Corrupt JPEG data: bad ICC marker")


def _decode_strictly(data: bytes, colorspace: str) -> None:
    """The whole entropy-coded data decoded at 1/8 scale (the smallest), libjpeg-turbo's warnings raised as
    ValueError."""
    simplejpeg.decode_jpeg(data, colorspace, min_height=1, min_width=1, strict=True)


def _without_application_segments(data: bytes) -> bytes:
    """A JPEG without its APPn and comment segments before the first scan (JFIF, EXIF, ICC, Adobe...), the rest as
    it is."""
    kept, at = [data[:2]], 2
    while at + 4 <= len(data) and data[at] == 0xFF:
        marker = data[at + 1]
        if marker == 0xFF:  # a fill byte
            at += 1
            continue
        if marker == 0xDA:  # start of scan
            break
        end = at + 2 + int.from_bytes(data[at + 2:at + 4], "big")
        if not (0xE0 <= marker <= 0xEF or marker == 0xFE):
            kept.append(data[at:end])
        at = end
    kept.append(data[at:])
    return b"".join(kept)


def open_jpeg(data: bytes, where, at_least: int | None = None) -> tuple[Image.Image, tuple[int, int]]:
    """A JPEG decoded in RGB as displayed (EXIF orientation applied, as ``datasets`` decodes it), and its full
    (height, width) as displayed. With ``at_least``, decoded at the smallest JPEG scale (1/2, 1/4, 1/8) whose longest
    side keeps at least that many pixels: a thumbnail then costs a fraction of a full decode."""
    _refuse_unsafe(data, where)
    with _decoding(where):
        im = Image.open(io.BytesIO(data))
        size = _displayed_size(im, where)
        if at_least is not None:
            scale = min(1.0, at_least / max(im.size))
            im.draft("RGB", (max(1, math.ceil(im.width * scale)), max(1, math.ceil(im.height * scale))))
        return _upright(im).convert("RGB"), size


@contextlib.contextmanager
def _decoding(where):
    """What PIL raises on a corrupt or truncated file becomes a ReleaseError naming it."""
    try:
        yield
    except ReleaseError:
        raise
    except UnidentifiedImageError:  # its message names a BytesIO object, not the file
        raise ReleaseError(f"{where}: corrupt or unreadable JPEG (no image format recognised)") from None
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as err:
        raise ReleaseError(f"{where}: corrupt or unreadable JPEG ({err})") from None


def _displayed_size(im: Image.Image, where) -> tuple[int, int]:
    """(height, width) of an opened JPEG after its EXIF orientation. An image to be turned upright must have an EXIF
    that Pillow can write again without its orientation: ``datasets`` turns every image upright when it loads it
    (``ImageOps.exif_transpose``, which rewrites the EXIF), and a tag stored with a type other than the one Pillow
    knows it by (a crafted EXIF) makes that fail: users could not load the image."""
    if im.format != "JPEG":
        raise ReleaseError(f"{where}: not a JPEG ({im.format})")
    width, height = im.size
    try:
        orientation = im.getexif().get(EXIF_ORIENTATION, 1)
    except Exception as err:  # noqa: BLE001 - whatever Pillow raises there, a user's datasets would too
        raise ReleaseError(f"{where}: its EXIF cannot be read by Pillow ({type(err).__name__}: {err}), as datasets "
                           "does when it loads an image: users could not load it; re-save it without EXIF") from None
    if orientation in _UPRIGHT and "exif" in im.info:
        try:
            rewritten = Image.Exif()
            rewritten.load(im.info["exif"])
            rewritten.pop(EXIF_ORIENTATION, None)  # (the orientation may be XMP's)
            rewritten.tobytes()
        except Exception as err:  # noqa: BLE001 - whatever Pillow raises there, a user's datasets would too
            raise ReleaseError(f"{where}: its EXIF cannot be written again by Pillow once the image is turned upright "
                               f"({type(err).__name__}: {err}), as datasets does when it loads an image: users could "
                               "not load it; re-save it without EXIF") from None
    if orientation in (5, 6, 7, 8):  # rotated by 90 degrees
        width, height = height, width
    return height, width


_UPRIGHT = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180, 4: Image.Transpose.FLIP_TOP_BOTTOM,
            5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE,
            8: Image.Transpose.ROTATE_90}  # EXIF orientation -> the turn that makes the image upright (Pillow's)


def _upright(im: Image.Image) -> Image.Image:
    """The image turned as its EXIF orientation says (the pixels of ``ImageOps.exif_transpose``, without writing its
    EXIF again, which fails on some crafted EXIF)."""
    turn = _UPRIGHT.get(im.getexif().get(EXIF_ORIENTATION, 1))
    return im if turn is None else im.transpose(turn)


def read_jpeg(path) -> tuple[bytes, tuple[int, int]]:
    """A JPEG file's bytes and its (height, width) as displayed."""
    data = read_bytes(path)
    return data, jpeg_size(data, path)


def image_name(file_name: str) -> str | None:
    """The image name of a file (``index_002.jpg`` or ``index_002.JPG`` -> ``index_002``), None if it is no JPEG:
    the one rule for names in folders and in archives."""
    stem, dot, extension = file_name.rpartition(".")
    return stem if dot and stem and extension.lower() == "jpg" else None


def is_archive(path: Path) -> bool:
    return path.name.lower().endswith(ARCHIVE_SUFFIXES)


class ImageSource:
    """Images by name from folders and archives (the first place that has a name wins)."""

    def __init__(self, folders: list[Path], archives: list[Path], workers: int | None = None):
        self.folders, self.archives = folders, archives
        self.workers = workers or os.cpu_count() or 1  # threads decoding images to check them
        self._bytes: dict[str, bytes] = {}  # from archives
        self._where: dict[str, str] = {}
        self._sizes: dict[str, tuple[int, int]] = {}
        self.unlisted = 0  # archive members that are no wanted image (counted, ignored)
        self.verified: set[str] = set()  # names read and decoded (pixret.release.verify_images)
        self._problems: dict[str, str] = {}  # found while an archive streamed by or a folder was listed
        self._archive_sha256: dict[Path, str] = {}  # computed while streaming
        self._sha256: dict[str, str] = {}  # of folder images, computed while checking them
        self._searched: set[str] = set()  # names the archives were read for

    def describe(self) -> str:
        return ", ".join(str(p) for p in self.folders + self.archives)

    @cached_property
    def _files(self) -> dict[str, Path]:
        """{image name: file} of the folders (the first folder that has a name wins), listed once."""
        files: dict[str, Path] = {}
        for folder in self.folders:
            here: dict[str, Path] = {}
            for file_name in _file_names(folder):
                name = image_name(file_name)
                if name is None:
                    continue
                if name in here:  # index_002.jpg and index_002.JPG: one image if they are the same file
                    if read_bytes(folder / file_name) != read_bytes(here[name]):
                        self._problems[name] = f"{name}.jpg: two different files, {here[name]} and {folder / file_name}"
                    continue
                here[name] = folder / file_name
            files = {**here, **files}
        return files

    def _path(self, name: str) -> Path | None:
        return self._files.get(name)

    def where(self, name: str) -> str:
        if name in self._where:
            return self._where[name]
        path = self._path(name)
        return str(path) if path else f"{name}.jpg"

    def load(self, names, progress: bool = True) -> list[str]:
        """Read the archives once, keeping the wanted ``names``; return the names found nowhere."""
        wanted = {n for n in names if self._path(n) is None}
        new = wanted - self._searched
        if new and self.archives:
            for archive in self.archives:  # every one, also when the first had it all: a second copy must match
                self._read_archive(archive, new, progress)
            self._searched |= new
        return sorted(n for n in wanted if n not in self._bytes)

    def _read_archive(self, archive: Path, wanted: set, progress: bool) -> None:
        """One streaming pass over an archive, keeping the wanted members' bytes.

        A .tgz is decompressed through zlib-ng's GzipFile (the standard gzip module's, with inflate about 1.5x as
        fast: decompression is most of a plain pass over an archive) and read to its end, so that the gzip
        checksum is verified (tarfile's own stream mode never checks it).
        """
        size = archive.stat().st_size
        bar = progress_bar(total=size, unit="B", unit_scale=True, desc=f"reading {archive.name}",
                           disable=None if progress else True)
        digest = hashlib.sha256()
        decoding = self._checking()  # images are checked while the archive streams by
        checks = {}
        try:
            with open(archive, "rb") as raw:
                counted = io.BufferedReader(_Counting(raw, bar, digest), 1 << 20)
                gzipped = counted.peek(2)[:2] == b"\x1f\x8b"
                # GzipFile inflates 8 KB per call when tarfile asks for 10 KB: in front of it, a 1 MB buffer
                # makes that 1 MB per call, with the GIL released around each (the checking threads run meanwhile)
                stream = io.BufferedReader(gzip_ng.GzipFile(fileobj=counted, mode="rb"), 1 << 20) if gzipped else counted
                with tarfile.open(fileobj=stream, mode="r|") as tar:
                    for member in tar:
                        if not member.isfile():
                            continue
                        base = member.name.rsplit("/", 1)[-1]
                        name = image_name(base)
                        if name in wanted and name not in self._bytes:
                            self._bytes[name] = tar.extractfile(member).read()
                            self._where[name] = f"{archive}: {member.name}"
                            checks[name] = decoding.submit(self._check_one, name)
                        elif name in wanted:  # a second copy: revisitop's flattening keeps one; same bytes or stop
                            if tar.extractfile(member).read() != self._bytes[name]:
                                self._problems[name] = (f"{base}: two different files, {self._where[name]} and "
                                                        f"{archive}: {member.name}")
                        elif name is not None:
                            self.unlisted += 1
                while stream.read(1 << 20):  # to the end: the gzip checksum is checked there
                    pass
                while counted.read(1 << 20):  # and every byte is in the digest
                    pass
            self._archive_sha256[archive] = digest.hexdigest()
        except BaseException as err:
            decoding.shutdown(wait=True, cancel_futures=True)
            if isinstance(err, (tarfile.TarError, OSError, EOFError, zlib.error, zlib_ng.error)):
                raise ReleaseError(f"{archive}: not a readable tar archive, or a damaged one ({err})") from None
            raise
        finally:
            bar.close()
        decoding.shutdown(wait=True)
        for name, check in checks.items():
            size, problem = check.result()
            if problem:
                self._problems.setdefault(name, problem)
            elif name not in self._problems:
                self._sizes[name] = size

    def _checking(self) -> Executor:
        """Where images are checked: on ``workers`` threads, or for one worker in the calling thread itself (a thread
        would only add hand-offs there)."""
        return ThreadPoolExecutor(self.workers) if self.workers > 1 else _InTheCaller()

    def _check_one(self, name: str):
        """(size, None) or (None, problem); a folder image's SHA-256 is taken on the way (for the provenance)."""
        try:
            data = self.bytes(name)
            if name not in self._bytes:
                self._sha256[name] = hashlib.sha256(data).hexdigest()
            return jpeg_size(data, self.where(name)), None
        except ReleaseError as err:
            return None, str(err)

    def bytes(self, name: str) -> bytes:
        if name in self._bytes:
            return self._bytes[name]
        path = self._path(name)
        if path is None:
            raise ReleaseError(f"{name}.jpg: image not found in {self.describe()}")
        return read_bytes(path)

    def size(self, name: str) -> tuple[int, int]:
        """(height, width) as displayed; the image is decoded (checked) on first use."""
        if name not in self._sizes:
            self._sizes[name] = jpeg_size(self.bytes(name), self.where(name))
        return self._sizes[name]

    def check(self, names, progress: bool = True) -> dict[str, str]:
        """Decode every image of ``names`` once (``workers`` threads); {name: problem} of those that fail."""
        names = list(dict.fromkeys(names))
        problems = {n: self._problems[n] for n in names if n in self._problems}
        todo = [n for n in names if n not in self._sizes and n not in problems]
        with self._checking() as pool:
            results = map(self._check_one, todo) if isinstance(pool, _InTheCaller) else pool.map(self._check_one, todo)
            for name, (size, problem) in progress_bar(zip(todo, results), total=len(todo),
                                                      desc="checking images", unit="image",
                                                      disable=None if progress else True):
                if problem:
                    problems[name] = problem
                else:
                    self._sizes[name] = size
        return problems

    def provenance(self, names) -> list[dict]:
        """Where the images of ``names`` came from, with SHA-256s (archives whole, folders combined)."""
        out = [{"name": archive.name, "what": "image archive",
                "sha256": self._archive_sha256.get(archive) or sha256_file(archive)} for archive in self.archives]
        for folder in self.folders:
            found = {self._path(n).name: self._sha256.get(n) or hashlib.sha256(self.bytes(n)).hexdigest()
                     for n in dict.fromkeys(names)
                     if n not in self._bytes and self._path(n) is not None and self._path(n).parent == folder}
            if found:
                out.append({"name": f"{len(found)} images in {folder.name}/", "what": "JPEG, combined",
                            "sha256": combined_sha256(found)})
        return out


def sha256_file(path) -> str:
    """SHA-256 of a file the build reads (ReleaseError naming it if it cannot be read)."""
    return safe_pickle.sha256_file(path, ReleaseError)


def read_bytes(path) -> bytes:
    """A file's bytes (ReleaseError naming it if it cannot be read)."""
    return safe_pickle.read_bytes(path, ReleaseError)


def _file_names(folder: Path) -> list[str]:
    """The names of the files in an images folder, sorted."""
    try:
        with os.scandir(folder) as entries:
            return sorted(entry.name for entry in entries if entry.is_file())
    except OSError as err:
        raise ReleaseError(f"{folder}: cannot list the images folder ({err.strerror or err})") from None


def combined_sha256(digests: dict[str, str]) -> str:
    """SHA-256 over the sorted "SHA-256  name" lines of many files ({name: hex SHA-256}; sha256sum's format)."""
    lines = sorted(f"{digest}  {name}\n" for name, digest in digests.items())
    return hashlib.sha256("".join(lines).encode()).hexdigest()


class _InTheCaller(Executor):
    """An executor that runs each call at once, in the thread that submits it."""

    def submit(self, fn, /, *args, **kwargs) -> Future:
        future = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except Exception as err:  # noqa: BLE001 - raised again by result(), as a thread pool's would be
            future.set_exception(err)
        return future


class _Counting(io.RawIOBase):
    """A file object that moves a progress bar and a digest as it is read."""

    def __init__(self, raw, bar, digest):
        self.raw, self.bar, self.digest = raw, bar, digest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        n = self.raw.readinto(buffer)
        if n:
            self.bar.update(n)
            self.digest.update(memoryview(buffer)[:n])
        return n


def open_images(paths, workers: int | None = None) -> ImageSource:
    """Folders (holding ``<name>.jpg`` or ``jpg/<name>.jpg``) and archives, in the order given; ``workers``: threads
    that decode images to check them (default: one per core)."""
    folders, archives = [], []
    for path in map(Path, paths):
        if path.is_dir():
            inner = (path / "jpg").is_dir() and not any(image_name(file_name) for file_name in _file_names(path))
            folders.append(path / "jpg" if inner else path)
        elif path.is_file() and is_archive(path):
            archives.append(path)
        elif path.exists():
            raise ReleaseError(f"{path}: images must be a folder of .jpg files or a .tgz / .tar archive")
        else:
            raise ReleaseError(f"{path}: images folder or archive not found")
    return ImageSource(folders, archives, workers)
