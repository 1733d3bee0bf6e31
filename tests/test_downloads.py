"""Building from the files as published: image archives (Oxford flat, Paris in sub-folders over two
archives), revisitop's .mat or .pkl ground truth, the label release extracted one folder deeper."""

from __future__ import annotations

import gzip
import io
import shutil
import tarfile

import numpy as np
import pytest
from datasets import load_dataset

from pixret import synthetic
from pixret.build import build
from pixret.cli import main
from pixret.release import ReleaseError, load_ground_truth
from proxford_prparis import ProxfordPrparis


@pytest.fixture
def downloads(release, tmp_path, generators):
    """The tiny release taken apart into what a user downloads."""
    root = release["root"]
    jpg = root / "revisitop/data/roxford5k/jpg"
    images = {p.stem: p.read_bytes() for p in sorted(jpg.glob("*.jpg"))}
    images["not_listed_000"] = images["index_000"]  # archives hold images the gnd does not list
    names = sorted(images)
    first, second = dict((n, images[n]) for n in names[::2]), dict((n, images[n]) for n in names[1::2])
    landmark = lambda name: f"paris/{'defense' if name[-1] in '02468' else 'louvre'}/"  # noqa: E731
    paris = [synthetic.write_archive(tmp_path / "paris_1-v1.tgz", first, landmark),
             synthetic.write_archive(tmp_path / "paris_2-v1.tgz", second, landmark)]
    oxford = synthetic.write_archive(tmp_path / "oxbuild_images-v1.tgz", images)
    gnd_pkl = root / "revisitop/data/roxford5k/gnd_roxford5k.pkl"
    gnd_mat = generators.write_gnd_mat(tmp_path / "gnd_roxford5k.mat", release["gnd"])
    labels = tmp_path / "labels_extracted"
    shutil.copytree(root, labels / "pixel_retrieval_benchmarks", ignore=shutil.ignore_patterns("revisitop"))
    return {**release, "oxford": oxford, "paris": paris, "gnd_pkl": gnd_pkl, "gnd_mat": gnd_mat, "labels": labels,
            "folder_build": None}


def _rows(folder):
    return {config: {split: load_dataset(str(folder), config, split=split).to_list() for split in splits}
            for config, splits in (("pairs", ("easy", "medium", "hard")), ("queries", ("test",)),
                                   ("index", ("test",)))}


def test_archives_and_mat_give_the_folder_build(downloads, tmp_path, capsys):
    build("proxford", downloads["root"], tmp_path / "from_folder")
    args = ["build", "--benchmark", "proxford", "--labels", str(downloads["labels"]), "--gnd",
            str(downloads["gnd_mat"])]
    assert main(args + ["--images", str(downloads["oxford"]), "--output", str(tmp_path / "oxford")]) == 0
    assert "1 images in the archives are not listed by the ground truth" in capsys.readouterr().err
    assert main(args + ["--images", str(downloads["paris"][0]), "--images", str(downloads["paris"][1]),
                        "--output", str(tmp_path / "paris")]) == 0
    expected = _rows(tmp_path / "from_folder")
    assert _rows(tmp_path / "oxford") == expected == _rows(tmp_path / "paris")  # row for row, image bytes included
    report = (tmp_path / "paris" / "build_report.json").read_text()
    assert "paris_1-v1.tgz" in report and "gnd_roxford5k.mat" in report


def test_missing_and_corrupt_images_are_named(downloads, tmp_path):
    with tarfile.open(downloads["oxford"]) as tar:
        members = {m.name: tar.extractfile(m).read() for m in tar.getmembers()}
    positive = downloads["gnd"]["imlist"][downloads["gnd"]["gnd"][0]["easy"][0]]
    junk = downloads["gnd"]["imlist"][downloads["gnd"]["gnd"][0]["junk"][0]]
    members.pop(f"{positive}.jpg")
    members[f"{junk}.jpg"] = members[f"{junk}.jpg"][: len(members[f"{junk}.jpg"]) // 2]
    damaged = synthetic.write_archive(tmp_path / "oxbuild_images.tgz",
                                      {name[:-4]: data for name, data in members.items()})
    with pytest.raises(ReleaseError) as err:
        build("proxford", downloads["labels"], tmp_path / "out", images=[damaged], gnd=downloads["gnd_pkl"])
    message = str(err.value)
    assert message.startswith("2 of the 16 images the ground truth lists are missing or corrupt: ")
    assert "\n" not in message
    assert f"{positive}.jpg: not in {damaged} [index image" in message and "positive of 2 queries (0, 1)" in message
    assert f"{damaged}: {junk}.jpg: corrupt or unreadable JPEG" in message and "junk of" in message
    assert not (tmp_path / "out").exists()


def test_damaged_gzip_stream_is_caught(downloads, tmp_path):
    """tarfile alone never checks the gzip checksum: a flipped byte inside a member must not pass."""
    with open(downloads["oxford"], "rb") as f:
        raw = bytearray(f.read())
    payload = gzip.decompress(bytes(raw))
    flipped = bytearray(payload)
    flipped[len(flipped) // 2] ^= 0x01  # inside some member's bytes, not its header
    (tmp_path / "bad.tgz").write_bytes(_gzip_with_crc_of(payload, bytes(flipped)))
    with pytest.raises(ReleaseError, match="bad.tgz: not a readable tar archive, or a damaged one"):
        build("proxford", downloads["labels"], tmp_path / "out", images=[tmp_path / "bad.tgz"], gnd=downloads["gnd_pkl"])


def _gzip_with_crc_of(original: bytes, content: bytes) -> bytes:
    """A gzip stream of ``content`` whose trailer carries the checksum of ``original``."""
    data = bytearray(gzip.compress(content, mtime=0))
    data[-8:-4] = gzip.compress(original, mtime=0)[-8:-4]
    return bytes(data)


def test_labels_one_folder_deeper_and_errors(downloads, tmp_path):
    deeper = downloads["labels"]
    release = build("proxford", deeper, tmp_path / "out", images=[downloads["oxford"]], gnd=downloads["gnd_pkl"])
    assert release["counts"]["labelled_pairs"] == 20
    (deeper / "second").mkdir()
    shutil.copy(deeper / "pixel_retrieval_benchmarks" / "oxford_pair2labelpath.npy", deeper / "second")
    with pytest.raises(ReleaseError, match="several oxford_pair2labelpath.npy"):
        build("proxford", deeper, tmp_path / "out2", images=[downloads["oxford"]], gnd=downloads["gnd_pkl"])
    with pytest.raises(ReleaseError, match=r"not_a_gnd.txt: expected revisitop's gnd_roxford5k.pkl or .*\.mat"):
        (tmp_path / "not_a_gnd.txt").write_text("x")
        build("proxford", downloads["root"], tmp_path / "out3", gnd=tmp_path / "not_a_gnd.txt")


def test_real_mat_and_pkl_build_the_same_rows(shared_dir, tmp_path):
    """revisitop's real .mat (1-based) and .pkl give exactly the same dataset, row for row."""
    pkl = shared_dir / "data/revisitop/gnd_roxford5k.pkl"
    mat = shared_dir / "data/revisitop/gnd_roxford5k.mat"
    gt = load_ground_truth(pkl)
    assert load_ground_truth(mat).__dict__ | {"path": None} == gt.__dict__ | {"path": None}
    root = tmp_path / "release"
    jpeg = synthetic.jpeg_bytes(np.full((24, 32, 3), 90, np.uint8))
    label = synthetic.labelme([[[2, 2], [20, 2], [20, 15]]], 24, 32)
    labels = {}
    jpg = tmp_path / "jpg"
    jpg.mkdir()
    for q in range(len(gt.query_names)):
        for i in gt.easy[q] + gt.hard[q]:
            labels[q, i] = f"labels/{gt.index_names[i]}.json"
    query_jpeg = synthetic.jpeg_bytes(np.full((1024, 1024, 3), 90, np.uint8))  # the real query boxes fit in it
    for name in gt.query_names:
        (jpg / f"{name}.jpg").write_bytes(query_jpeg)
    for name in sorted({gt.index_names[i] for _, i in labels}):
        (jpg / f"{name}.jpg").write_bytes(jpeg)
    (root / "labels").mkdir(parents=True)
    for rel in set(labels.values()):
        (root / rel).write_text(__import__("json").dumps(label))
    synthetic.write_pair2label(root, "proxford", labels)
    tables = []
    for gnd in (pkl, mat):
        builder = ProxfordPrparis(config_name="pairs", data_dir=str(root), benchmark="proxford", gnd=str(gnd),
                                  images=(str(jpg),), cache_dir=str(tmp_path / f"cache-{gnd.suffix[1:]}"))
        builder.download_and_prepare()
        tables.append({split: builder.as_dataset(split).data.table for split in ("easy", "medium", "hard")})
        queries = ProxfordPrparis(config_name="queries", data_dir=str(root), benchmark="proxford", gnd=str(gnd),
                                  images=(str(jpg),), cache_dir=str(tmp_path / f"cache-{gnd.suffix[1:]}"))
        queries.download_and_prepare()
        tables[-1]["queries"] = queries.as_dataset("test").data.table
    for key in tables[0]:
        assert tables[0][key].equals(tables[1][key]), key
    assert tables[0]["medium"].num_rows == 5526 + 1356


def test_one_name_twice_in_the_archives(downloads, tmp_path):
    """Flattened by name as revisitop does: a second copy must be the same file, else the build stops."""
    with tarfile.open(downloads["oxford"]) as tar:
        images = {m.name[:-4]: tar.extractfile(m).read() for m in tar.getmembers()}
    same = synthetic.write_archive(tmp_path / "same.tgz", {"index_003": images["index_003"]})
    report = build("proxford", downloads["labels"], tmp_path / "ok", images=[downloads["oxford"], same],
                   gnd=downloads["gnd_pkl"])
    assert report["counts"]["labelled_pairs"] == 20
    other = synthetic.write_archive(tmp_path / "other.tgz", {"index_003": images["index_004"]})
    with pytest.raises(ReleaseError, match=r"index_003.jpg: two different files, .*oxbuild_images-v1.tgz: "
                                           r"index_003.jpg and .*other.tgz: index_003.jpg"):
        build("proxford", downloads["labels"], tmp_path / "no", images=[downloads["oxford"], other],
              gnd=downloads["gnd_pkl"])


def test_member_names_follow_the_folders_rule(downloads, tmp_path):
    """One rule for names in folders and archives: <name>.jpg, the extension in any case, sub-folders ignored."""
    with tarfile.open(downloads["oxford"]) as tar:
        images = {m.name[:-4]: tar.extractfile(m).read() for m in tar.getmembers()}
    archive = tmp_path / "upper.tgz"
    with tarfile.open(archive, "w:gz") as tar:
        for name, data in images.items():
            member = tarfile.TarInfo(f"oxbuild/{name}.JPG" if name.endswith("2") else f"{name}.jpg")
            member.size = len(data)
            tar.addfile(member, io.BytesIO(data))
    build("proxford", downloads["labels"], tmp_path / "upper", images=[archive], gnd=downloads["gnd_pkl"])
    build("proxford", downloads["labels"], tmp_path / "plain", images=[downloads["oxford"]], gnd=downloads["gnd_pkl"])
    assert _rows(tmp_path / "upper") == _rows(tmp_path / "plain")
