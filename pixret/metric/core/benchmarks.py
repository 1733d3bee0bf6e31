"""The benchmark registry: every fact about PROxford and PRParis (and any benchmark registered beside them).

Query names, index sizes and list lengths are revisitop's (``gnd_roxford5k.pkl``,
``gnd_rparis6k.pkl``); the ignore lists are those of the authors' evaluation code; the
label prefixes those of their release. Data is identified by these facts (its query names
and lists), never by a title. The metric's configs, the CLI's choices, the release reader,
the dataset cards and the paper tables are derived from ``BENCHMARKS``.
"""

from __future__ import annotations

from dataclasses import dataclass

PROTOCOLS = ("easy", "medium", "hard")
REPORTED = ("medium", "hard")  # the protocols the paper reports: every benchmark's default (Benchmark.reported_protocols)
# revisitop protocols: which difficulties are positives; every other listed image is junk
POSITIVE_DIFFICULTIES = {"easy": ("easy",), "medium": ("easy", "hard"), "hard": ("hard",)}
DIFFICULTIES = ("easy", "hard", "junk")
R1M_DISTRACTORS = 1_001_001  # revisitop1m.txt
CUSTOM = "custom"  # data in the benchmarks' format that is not one of them (the demo world, your own)
PAPER_TABLES = ("table1_mean_miou.csv", "table2_map.csv")  # An et al.'s Table 1 and 2, in paper/
HUB_OWNER = "pixret"  # the Hub namespace of the datasets and the metric Space
HOMEPAGE = "https://github.com/anguoyuan/Pixel_retrieval-Segmented_instance_retrieval"
CITATION = r"""@inproceedings{an2023pixel,
  title     = {Towards Content-based Pixel Retrieval in Revisited Oxford and Paris},
  author    = {An, Guoyuan and Kim, Woo Jae and Yang, Saelyne and Li, Rong and Huo, Yuchi and Yoon, Sung-Eui},
  booktitle = {ICCV},
  year      = {2023}
}
@inproceedings{radenovic2018revisiting,
  title     = {Revisiting Oxford and Paris: Large-Scale Image Retrieval Benchmarking},
  author    = {Radenovi{\'c}, Filip and Iscen, Ahmet and Tolias, Giorgos and Avrithis, Yannis and Chum, Ond{\v{r}}ej},
  booktitle = {CVPR},
  year      = {2018}
}
"""


@dataclass(frozen=True)
class Benchmark:
    """Every fact about one benchmark: the checks, the build, the cards and the tables start here.

    Adding a benchmark is one ``register(Benchmark(...))`` (plus its paper tables, if any).
    """

    name: str  # metric config, dataset repo name, ``--benchmark``
    pretty_name: str
    revisitop_name: str  # revisitop's dataset name: gnd_<revisitop_name>.pkl, data/datasets/<revisitop_name>/
    revisitop_pretty: str
    label_prefix: str  # the authors' label release: <label_prefix>_pair2labelpath.npy
    images: tuple[str, ...]  # the image archives as downloaded (older mirrors' names after a "/")
    images_url: str
    images_source: str  # what the images are and whose terms they are under (card, LICENSE)
    query_names: tuple[str, ...]
    index_size: int
    counts: tuple[tuple[int, int, int], ...]  # (easy, hard, junk) list lengths per query
    ignored_queries: tuple[int, ...]  # skipped in pixel mAP by the authors' code, kept in its denominator
    gnd_sha256: str  # of the easy/hard/junk lists, see lists_digest
    paper_tables: tuple[str, str] | None = PAPER_TABLES  # Table 1 / Table 2 CSVs (in paper/, or absolute paths)
    reported_protocols: tuple[str, ...] = REPORTED  # the protocols the paper's tables report

    @property
    def num_queries(self) -> int:
        return len(self.query_names)

    @property
    def hub_id(self) -> str:
        """The dataset's home on the Hub (its leaderboard, for a registered Hub Benchmark)."""
        return f"{HUB_OWNER}/{self.name}"

    def protocol_counts(self, protocol: str, query_id: int) -> tuple[int, int]:
        """(positives, junk) of one query under a protocol."""
        by_kind = dict(zip(DIFFICULTIES, self.counts[query_id]))
        positives = sum(by_kind[k] for k in POSITIVE_DIFFICULTIES[protocol])
        return positives, sum(by_kind.values()) - positives

    @property
    def siblings(self) -> list["Benchmark"]:
        """The other benchmarks of the same paper tables."""
        return [b for b in BENCHMARKS.values() if b.name != self.name and b.paper_tables
                and b.paper_tables == self.paper_tables]


def register(benchmark: Benchmark) -> Benchmark:
    """Add a benchmark to the registry (the CLI's choices, the metric's configs and the cards follow it)."""
    if benchmark.name in BENCHMARKS or benchmark.name == CUSTOM:
        raise ValueError(f"a benchmark named {benchmark.name!r} exists already")
    if len(benchmark.counts) != benchmark.num_queries or len(set(benchmark.query_names)) != benchmark.num_queries:
        raise ValueError(f"{benchmark.name}: one (easy, hard, junk) count per query and unique query names needed")
    BENCHMARKS[benchmark.name] = benchmark
    return benchmark


def unregister(name: str) -> None:
    """Remove a registered benchmark (tests that register their own)."""
    BENCHMARKS.pop(name, None)


def lists_digest(easy, hard, junk) -> str:
    """SHA-256 of per-query sorted easy/hard/junk id lists, as compact JSON."""
    import hashlib
    import json

    lists = [[sorted(int(i) for i in ids) for ids in lists] for lists in zip(easy, hard, junk)]
    return hashlib.sha256(json.dumps(lists, separators=(",", ":")).encode()).hexdigest()


def identify(query_names) -> str | None:
    """The benchmark whose queries these are (names in query-id order), or None."""
    names = tuple(str(n) for n in query_names)
    return next((b.name for b in BENCHMARKS.values() if b.query_names == names), None)


def metric_options(query_names, index_size: int) -> dict:
    """The metric's benchmark for data with these queries and index, with the sizes "custom" needs."""
    found = identify(query_names)
    return {"benchmark": found} if found else {"benchmark": CUSTOM, "index_size": index_size,
                                               "num_queries": len(query_names)}


_PROXFORD_QUERIES = (
    'all_souls_000013', 'all_souls_000026', 'oxford_002985', 'all_souls_000051', 'oxford_003410',
    'ashmolean_000058', 'ashmolean_000000', 'ashmolean_000269', 'ashmolean_000007', 'ashmolean_000305',
    'balliol_000051', 'balliol_000187', 'balliol_000167', 'balliol_000194', 'oxford_001753',
    'bodleian_000107', 'oxford_002416', 'bodleian_000108', 'bodleian_000407', 'bodleian_000163',
    'christ_church_000179', 'oxford_002734', 'christ_church_000999', 'christ_church_001020', 'oxford_002562',
    'cornmarket_000047', 'cornmarket_000105', 'cornmarket_000019', 'oxford_000545', 'cornmarket_000131',
    'hertford_000015', 'oxford_001752', 'oxford_000317', 'hertford_000027', 'hertford_000063', 'keble_000245',
    'keble_000214', 'keble_000227', 'keble_000028', 'keble_000055', 'magdalen_000078', 'oxford_003335',
    'magdalen_000058', 'oxford_001115', 'magdalen_000560', 'pitt_rivers_000033', 'pitt_rivers_000119',
    'pitt_rivers_000153', 'pitt_rivers_000087', 'pitt_rivers_000058', 'radcliffe_camera_000519',
    'oxford_002904', 'radcliffe_camera_000523', 'radcliffe_camera_000095', 'bodleian_000132',
    'all_souls_000021', 'all_souls_000022', 'all_souls_000152', 'ashmolean_000078', 'ashmolean_000005',
    'ashmolean_000301', 'christ_church_000262', 'oxford_000736', 'oxford_002364', 'hertford_000078',
    'hertford_000044', 'hertford_000082', 'radcliffe_camera_000290', 'radcliffe_camera_000286',
    'radcliffe_camera_000031',
)
_PROXFORD_COUNTS = (  # (easy, hard, junk) per query
    (65, 38, 33), (65, 38, 33), (65, 38, 33), (65, 38, 33), (65, 38, 33), (12, 8, 1), (12, 8, 1), (12, 8, 1),
    (12, 8, 1), (12, 8, 1), (6, 10, 2), (0, 2, 16), (6, 10, 2), (6, 10, 2), (6, 10, 2), (19, 5, 3), (19, 5,
    3), (19, 5, 3), (19, 5, 3), (19, 5, 3), (48, 37, 62), (48, 37, 62), (48, 37, 62), (48, 37, 62), (17, 57,
    74), (3, 10, 9), (3, 10, 9), (3, 10, 9), (3, 10, 9), (3, 10, 9), (30, 11, 16), (30, 11, 16), (30, 11, 16),
    (30, 11, 16), (30, 11, 16), (1, 1, 7), (1, 1, 7), (1, 1, 7), (1, 1, 7), (1, 1, 7), (39, 65, 17), (39, 65,
    17), (39, 65, 17), (39, 65, 17), (39, 65, 17), (1, 1, 1), (1, 1, 1), (1, 1, 1), (1, 1, 1), (1, 1, 1),
    (248, 99, 57), (248, 99, 57), (248, 99, 57), (248, 99, 57), (248, 99, 57), (65, 38, 33), (23, 74, 25),
    (24, 86, 26), (2, 18, 1), (5, 10, 6), (8, 12, 1), (54, 73, 8), (21, 99, 16), (6, 117, 10), (3, 30, 23),
    (3, 30, 23), (0, 31, 24), (239, 93, 25), (243, 65, 38), (10, 284, 31),
)
_PRPARIS_QUERIES = (
    'paris_defense_000605', 'paris_defense_000331', 'paris_defense_000216', 'paris_defense_000056',
    'paris_defense_000254', 'paris_general_002985', 'paris_general_001729', 'paris_eiffel_000266',
    'paris_general_002645', 'paris_general_002391', 'paris_invalides_000355', 'paris_invalides_000072',
    'paris_invalides_000490', 'paris_invalides_000229', 'paris_invalides_000360', 'paris_louvre_000081',
    'paris_louvre_000135', 'paris_louvre_000050', 'paris_louvre_000035', 'paris_louvre_000139',
    'paris_moulinrouge_000667', 'paris_moulinrouge_000868', 'paris_moulinrouge_000657',
    'paris_moulinrouge_000794', 'paris_moulinrouge_000004', 'paris_museedorsay_000527',
    'paris_museedorsay_000012', 'paris_museedorsay_000897', 'paris_museedorsay_000564',
    'paris_museedorsay_000878', 'paris_notredame_000256', 'paris_notredame_000965', 'paris_notredame_000390',
    'paris_general_003117', 'paris_notredame_000581', 'paris_pantheon_000466', 'paris_pantheon_000520',
    'paris_pantheon_000232', 'paris_pantheon_000547', 'paris_pantheon_000339', 'paris_pompidou_000432',
    'paris_pompidou_000444', 'paris_pompidou_000252', 'paris_pompidou_000471', 'paris_pompidou_000636',
    'paris_sacrecoeur_000162', 'paris_sacrecoeur_000417', 'paris_sacrecoeur_000237',
    'paris_sacrecoeur_000586', 'paris_sacrecoeur_000437', 'paris_triomphe_000369', 'paris_triomphe_000016',
    'paris_triomphe_000135', 'paris_triomphe_000149', 'paris_defense_000038', 'paris_defense_000525',
    'paris_defense_000104', 'paris_defense_000062', 'paris_general_001046', 'paris_general_002437',
    'paris_moulinrouge_000840', 'paris_notredame_000101', 'paris_notredame_000896', 'paris_notredame_000888',
    'paris_pantheon_000308', 'paris_pantheon_001078', 'paris_pantheon_000642', 'paris_triomphe_000089',
    'paris_triomphe_000414', 'paris_triomphe_000445',
)
_PRPARIS_COUNTS = (  # (easy, hard, junk) per query
    (95, 104, 79), (95, 104, 79), (95, 104, 79), (95, 104, 79), (95, 104, 79), (199, 437, 249), (199, 437,
    249), (199, 437, 249), (199, 437, 249), (199, 437, 249), (175, 136, 37), (175, 136, 37), (175, 136, 37),
    (175, 136, 37), (175, 136, 37), (135, 81, 102), (135, 81, 102), (135, 81, 102), (135, 81, 102), (135, 81,
    102), (166, 162, 9), (166, 162, 9), (166, 162, 9), (166, 162, 9), (166, 162, 9), (34, 49, 0), (34, 49, 0),
    (34, 49, 0), (34, 49, 0), (34, 49, 0), (84, 88, 94), (84, 88, 94), (84, 88, 94), (84, 88, 94), (84, 88,
    94), (111, 67, 140), (111, 67, 140), (111, 67, 140), (111, 67, 140), (111, 67, 140), (42, 34, 53), (42,
    34, 53), (42, 34, 53), (42, 34, 53), (42, 34, 53), (122, 110, 72), (122, 110, 72), (122, 110, 72), (122,
    110, 72), (122, 110, 72), (119, 131, 204), (47, 204, 205), (119, 131, 204), (47, 204, 205), (119, 131,
    204), (2, 188, 88), (4, 183, 91), (75, 89, 114), (57, 556, 243), (63, 449, 344), (83, 536, 237), (58, 98,
    109), (10, 115, 19), (77, 48, 20), (6, 167, 144), (6, 167, 144), (98, 59, 138), (29, 186, 80), (29, 186,
    80), (11, 182, 105),
)

BENCHMARKS: dict[str, Benchmark] = {}
register(Benchmark(
    "proxford", "PROxford", "roxford5k", "Revisited Oxford (ROxford5k)", "oxford",
    ("oxbuild_images-v1.tgz/oxbuild_images.tgz",), "https://www.robots.ox.ac.uk/~vgg/data/oxbuildings/",
    "the Oxford Buildings dataset (https://www.robots.ox.ac.uk/~vgg/data/oxbuildings/), photographs collected from "
    "Flickr, each under the terms its owner published it with, redistributed for research purposes only",
    _PROXFORD_QUERIES, 4993, _PROXFORD_COUNTS, (56, 63),
    "7465e8a0b04c9cd9f37f383d2f99b06732a9eb791375f69cb4ed9e45b6fcec25"))
register(Benchmark(
    "prparis", "PRParis", "rparis6k", "Revisited Paris (RParis6k)", "paris",
    ("paris_1-v1.tgz/paris_1.tgz", "paris_2-v1.tgz/paris_2.tgz"), "https://www.robots.ox.ac.uk/~vgg/data/parisbuildings/",
    "the Paris dataset (https://www.robots.ox.ac.uk/~vgg/data/parisbuildings/), photographs collected from Flickr, "
    "each under the terms its owner published it with, redistributed for research purposes only",
    _PRPARIS_QUERIES, 6322, _PRPARIS_COUNTS, (57, 59),
    "23baa2f349bf5ca3d1c1c2442b7b187df34d9ede6c07315bb7498ba9373af6da"))
