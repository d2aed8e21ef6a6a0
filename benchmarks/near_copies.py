"""Near-copies of photos: how close a face and its copy's face lie, against everything else.

Makes near-copies of photos with Pillow (WebP q90, PNG, JPEG q70 at 60%, a 90% centre crop, a
brightness and colour edit), scans originals and copies with the real CLI (default profile), and
prints the squared distances (unit vectors, 0..4) between each face and the same face in its
copy, against each original face's nearest face in another original photo (same person or not).
``--quality``: BCubed F of the original photos' centre faces, clustered without and with the
copies of ``--copied`` photos (``photoface.clustering.plan``, which folds near-copies).

    python -m benchmarks.near_copies --source ../shared/data/people --work /tmp/nc
    python -m benchmarks.near_copies --source ../shared/data/people --work /tmp/nc --quality
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageEnhance, ImageOps

from benchmarks.clustering import scores
from benchmarks.common import write_result
from photoface import copies
from photoface.catalog import Catalog, path_from_db, signature_rows
from photoface.clustering import NO_PERSON, ClusterSettings, Decisions, Faces, exact_neighbours, plan
from photoface.copies import COPY_DISTANCE, SIGNATURE_DISTANCE
from photoface.engine import signature

EXTENSIONS = {".jpg", ".jpeg", ".png", ".webp"}


def _upright(path: Path) -> Image.Image:
    with Image.open(path) as image:
        return ImageOps.exif_transpose(image).convert("RGB")


def _webp(image: Image.Image, out: Path) -> None:
    image.save(out.with_suffix(".webp"), quality=90)


def _png(image: Image.Image, out: Path) -> None:
    image.save(out.with_suffix(".png"))


def _small_jpeg(image: Image.Image, out: Path) -> None:
    image.resize((round(image.width * 0.6), round(image.height * 0.6)), Image.LANCZOS).save(
        out.with_suffix(".jpg"), quality=70
    )


def _crop(image: Image.Image, out: Path) -> None:
    dx, dy = round(image.width * 0.05), round(image.height * 0.05)
    image.crop((dx, dy, image.width - dx, image.height - dy)).save(out.with_suffix(".jpg"), quality=92)


def _edit(image: Image.Image, out: Path) -> None:
    edited = ImageEnhance.Color(ImageEnhance.Brightness(image).enhance(1.15)).enhance(1.25)
    edited.save(out.with_suffix(".jpg"), quality=90)


VARIANTS = {"webp": _webp, "png": _png, "jpeg70_60pct": _small_jpeg, "crop90": _crop, "edit": _edit}


def photos(source: Path) -> list[Path]:
    """The photos of the identity folders (not ``_groups``/``_strangers``), sorted."""
    return sorted(
        p
        for p in source.rglob("*")
        if p.suffix.lower() in EXTENSIONS and not any(part.startswith("_") for part in p.relative_to(source).parts)
    )


def make_copies(originals: list[Path], source: Path, target: Path) -> dict[str, tuple[Path, str]]:
    """Every variant of each original under ``target/<variant>/``; copy path -> (original, variant)."""
    made = {}
    for original in originals:
        image = _upright(original)
        relative = original.relative_to(source)
        for variant, save in VARIANTS.items():
            out = target / variant / relative
            out.parent.mkdir(parents=True, exist_ok=True)
            save(image, out)
            made[str(next(out.parent.glob(out.stem + ".*")).absolute())] = (original.absolute(), variant)
    return made


def scan(db: Path, *folders: Path) -> None:
    subprocess.run([sys.executable, "-m", "photoface", "--db", str(db), "scan", *map(str, folders)], check=True)


def _faces_by_photo(
    db: Path,
) -> tuple[dict[str, list[int]], np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Photo path -> face positions, and every face's id, embedding, box (x, y, w, h), place in
    its photo (box centre over the photo's width and height, log of the box width over the
    photo's longer side) and signature (zeros where none)."""
    with Catalog.open(db, create=False) as catalog:
        rows = catalog.db.execute("""
            SELECT faces.id, photos.path, faces.embedding, faces.x, faces.y, faces.w, faces.h, faces.size,
                   photos.width, photos.height, faces.signature
            FROM faces JOIN photos ON photos.id = faces.photo_id
            WHERE photos.status = 'ok' AND faces.size >= 20 ORDER BY faces.id""").fetchall()
    by_photo: dict[str, list[int]] = {}
    for position, row in enumerate(rows):
        by_photo.setdefault(path_from_db(row[1]), []).append(position)
    ids = np.array([r[0] for r in rows])
    embeddings = np.frombuffer(b"".join(r[2] for r in rows), np.float32).reshape(len(rows), -1)
    boxes = np.array([r[3:7] for r in rows], dtype=np.float64)
    frame = np.array([r[8:10] for r in rows], dtype=np.float64).reshape(-1, 2)
    places = np.c_[
        (boxes[:, 0] + boxes[:, 2] / 2) / frame[:, 0],
        (boxes[:, 1] + boxes[:, 3] / 2) / frame[:, 1],
        np.log(boxes[:, 2] / frame.max(axis=1)),
    ]
    cells = signature_rows([r[10] for r in rows])
    return (
        by_photo,
        ids,
        embeddings,
        boxes,
        places,
        cells if cells is not None else np.zeros((len(rows), 256), np.uint8),
    )


def _place_gap(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """How far two faces sit from the same place in their photos (``_faces_by_photo``'s places)."""
    return np.maximum(np.abs(a[..., :2] - b[..., :2]).max(axis=-1), np.abs(a[..., 2] - b[..., 2]))


def _in_original(box: np.ndarray, variant: str, size: tuple[int, int]) -> np.ndarray:
    """A copy's box in the original's pixels."""
    if variant == "jpeg70_60pct":
        return box / 0.6
    if variant == "crop90":
        return box + np.array([round(size[0] * 0.05), round(size[1] * 0.05), 0, 0])
    return box


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    x1, y1 = max(a[0], b[0]), max(a[1], b[1])
    x2, y2 = min(a[0] + a[2], b[0] + b[2]), min(a[1] + a[3], b[1] + b[3])
    inter = max(0.0, x2 - x1) * max(0.0, y2 - y1)
    return inter / (a[2] * a[3] + b[2] * b[3] - inter)


def distributions(db: Path, made: dict[str, tuple[Path, str]], source: Path) -> dict:
    """Squared distances: face to its copy (per variant), and each original face to its nearest
    face in another original photo, of the same person and of another."""
    by_photo, _ids, embeddings, boxes, places, cells = _faces_by_photo(db)
    copies: dict[str, list[float]] = {variant: [] for variant in VARIANTS}
    looks: dict[str, list[float]] = {variant: [] for variant in VARIANTS}
    pairs = []  # (squared distance, place gap, smaller face size, signature distance) of each face and its copy
    for copy, (original, variant) in made.items():
        size = _upright(original).size
        for c in by_photo.get(copy, []):
            mapped = _in_original(boxes[c], variant, size)
            matches = [o for o in by_photo.get(str(original), []) if _iou(mapped, boxes[o]) > 0.5]
            if matches:
                squared = np.sum((embeddings[matches] - embeddings[c]) ** 2, axis=1)
                o = matches[int(np.argmin(squared))]
                look = float(signature.distances(cells[[c]], cells[[o]])[0])
                copies[variant].append(float(squared.min()))
                looks[variant].append(look)
                pairs.append(
                    (float(squared.min()), float(_place_gap(places[c], places[o])), min(boxes[c, 2], boxes[o, 2]), look)
                )
    originals = [p for p in by_photo if p not in made]
    positions = np.array([f for p in originals for f in by_photo[p]])
    photo_of = np.array([i for i, p in enumerate(originals) for _ in by_photo[p]])
    person_of = np.array([_identity(Path(p)) for p in originals for _ in by_photo[p]])
    vectors = embeddings[positions]
    squared = np.clip(2 - 2 * vectors @ vectors.T, 0, 4)
    squared[photo_of[:, None] == photo_of[None, :]] = np.inf  # other photos only
    same = person_of[:, None] == person_of[None, :]
    nearest_same = np.where(same, squared, np.inf).min(axis=1)
    nearest_other = np.where(~same, squared, np.inf).min(axis=1)
    pairs = np.array(pairs).reshape(-1, 4)
    return {
        "by_face_size": _by_face_size(pairs, nearest_other, boxes[positions, 2]),
        "placed_rules": _placed_rules(pairs, squared, same, places[positions]),
        "signature_rules": _signature_rules(pairs, squared, same, cells[positions]),
        "copies": {v: _summary(d) for v, d in copies.items()},
        "copies_signature": {v: _summary(d) for v, d in looks.items()},
        "all_copies": _summary([d for ds in copies.values() for d in ds]),
        "nearest_other_photo_same_person": _summary(nearest_same[np.isfinite(nearest_same)]),
        "nearest_other_photo_other_person": _summary(nearest_other[np.isfinite(nearest_other)]),
        "nearest_other_photo_any": _summary(np.minimum(nearest_same, nearest_other)),
        "other_photos_below_rule": int((np.minimum(nearest_same, nearest_other) <= COPY_DISTANCE).sum()),
    }


def aligned_pairs(db: Path, sample: int = 4000, seed: int = 0) -> list[dict]:
    """The same-place rule on a catalog of aligned crops (LFW: every face at one place): pairs of
    different photos (``sample`` photos' largest faces; person = folder) it folds, by person."""
    by_photo, _ids, embeddings, boxes, places, cells = _faces_by_photo(db)
    largest = np.array([max(faces, key=lambda i: boxes[i, 2]) for faces in by_photo.values()])
    person = np.array([Path(path).parent.name for path in by_photo])
    pick = np.random.default_rng(seed).choice(len(largest), min(sample, len(largest)), replace=False)
    vectors = embeddings[largest[pick]]
    squared = np.clip(2 - 2 * vectors @ vectors.T, 0, 4)
    np.fill_diagonal(squared, np.inf)
    same = person[pick][:, None] == person[pick][None, :]
    gaps = _place_gap(places[largest[pick]][:, None, :], places[largest[pick]][None, :, :])
    rows = []
    i, j = np.nonzero(np.triu(squared <= 1.0, 1))
    looks = signature.distances(cells[largest[pick]][i], cells[largest[pick]][j])
    for distance, alike in SIGNATURE_GRID:
        folds = (squared[i, j] <= COPY_DISTANCE) | ((squared[i, j] <= distance) & (looks <= alike))
        rows.append(
            {
                "distance": distance,
                "signature": alike,
                "photos": len(pick),
                "other_person_pairs": int((folds & ~same[i, j]).sum()),
                "same_person_pairs": int((folds & same[i, j]).sum()),
            }
        )
    for distance, gap in ((COPY_DISTANCE, np.inf), (0.4, 0.05), (0.6, 0.05)):
        folds = (squared <= distance) & (gaps <= gap)
        rows.append(
            {
                "distance": distance,
                "gap": None if gap == np.inf else gap,
                "photos": len(pick),
                "other_person_pairs": int((folds & ~same).sum() // 2),
                "same_person_pairs": int((folds & same).sum() // 2),
            }
        )
    return rows


SIZE_BANDS = ((20, 40), (40, 60), (60, 100), (100, 100_000))  # face width, pixels


def _by_face_size(pairs: np.ndarray, nearest_other: np.ndarray, widths: np.ndarray) -> list[dict]:
    """Per band of face width: how far copies lie apart, against the nearest other person."""
    rows = []
    for low, high in SIZE_BANDS:
        band = (pairs[:, 2] >= low) & (pairs[:, 2] < high)
        mine = (widths >= low) & (widths < high) & np.isfinite(nearest_other)
        rows.append(
            {"width": [low, high], "copies": _summary(pairs[band, 0]), "other_person": _summary(nearest_other[mine])}
        )
    return rows


def _placed_rules(pairs: np.ndarray, squared: np.ndarray, same: np.ndarray, places: np.ndarray) -> list[dict]:
    """A looser rule tried: within ``distance`` and at the same place in the photo (``gap``): the
    copies it folds, and the pairs of other photos it would fold, of another person and the same."""
    gaps = _place_gap(places[:, None, :], places[None, :, :])
    rows = []
    for distance in (0.2, 0.4, 0.6):
        for gap in (0.03, 0.05, 0.08):
            folds = (squared <= COPY_DISTANCE) | ((squared <= distance) & (gaps <= gap))
            rows.append(
                {
                    "distance": distance,
                    "gap": gap,
                    "copies_folded": round(
                        float(
                            ((pairs[:, 0] <= COPY_DISTANCE) | ((pairs[:, 0] <= distance) & (pairs[:, 1] <= gap))).mean()
                        ),
                        4,
                    ),
                    "other_person_pairs": int((folds & ~same).sum() // 2),
                    "same_person_pairs": int((folds & same).sum() // 2),
                }
            )
    return rows


SIGNATURE_GRID = ((0.4, 0.1), (0.6, 0.05), (0.6, 0.1), (0.6, 0.15), (1.0, 0.1))  # (look distance, signature)


def _signature_rules(pairs: np.ndarray, squared: np.ndarray, same: np.ndarray, cells: np.ndarray) -> list[dict]:
    """The signature rule (``photoface.copies``) at each (look distance, signature distance): the
    copies it folds, and the pairs of other photos it would fold, of another person and the same."""
    i, j = np.nonzero(np.triu(np.isfinite(squared) & (squared <= max(d for d, _ in SIGNATURE_GRID)), 1))
    looks = signature.distances(cells[i], cells[j])
    rows = []
    for distance, alike in SIGNATURE_GRID:
        folds = (squared[i, j] <= COPY_DISTANCE) | ((squared[i, j] <= distance) & (looks <= alike))
        caught = (pairs[:, 0] <= COPY_DISTANCE) | ((pairs[:, 0] <= distance) & (pairs[:, 3] <= alike))
        rows.append(
            {
                "distance": distance,
                "signature": alike,
                "copies_folded": round(float(caught.mean()), 4) if len(pairs) else None,
                "copies_missed": int((~caught).sum()),
                "other_person_pairs": int((folds & ~same[i, j]).sum()),
                "same_person_pairs": int((folds & same[i, j]).sum()),
            }
        )
    return rows


def _identity(path: Path) -> str:
    return path.parent.name


def _summary(values) -> dict:
    values = np.sort(np.asarray(list(values), dtype=np.float64))
    if not len(values):
        return {"n": 0}
    pick = {q: float(np.quantile(values, q)) for q in (0.01, 0.05, 0.5, 0.95, 0.99)}
    return {
        "n": len(values),
        "min": float(values[0]),
        "max": float(values[-1]),
        **{f"q{q}": v for q, v in pick.items()},
    }


# Copy rules compared: (embedding distance, signature distance); -1 turns a test off.
RULES = {
    "none": (-1.0, -1.0),  # no folding: clustering before near-copies
    "embedding 0.1": (COPY_DISTANCE, -1.0),  # the embedding alone (before signatures)
    "embedding 0.15": (0.15, -1.0),
    "embedding 0.1 + signature": (COPY_DISTANCE, SIGNATURE_DISTANCE),  # the default
}


def quality(db: Path, made: dict[str, tuple[Path, str]], copied: int, seeds: int) -> list[dict]:
    """BCubed F of the original photos' centre faces clustered alone, and with one near-copy
    (the variants in turn) of ``copied`` photos added, for each copy rule and sample."""
    with Catalog.open(db, create=False) as catalog:
        rows = catalog.db.execute("""
            SELECT faces.id, photos.path, faces.photo_id, faces.size, faces.embedding,
                   (faces.x + faces.w / 2 - photos.width / 2.0) * (faces.x + faces.w / 2 - photos.width / 2.0)
                 + (faces.y + faces.h / 2 - photos.height / 2.0) * (faces.y + faces.h / 2 - photos.height / 2.0),
                   faces.signature
            FROM faces JOIN photos ON photos.id = faces.photo_id
            WHERE photos.status = 'ok' ORDER BY faces.id""").fetchall()
    paths = np.array([path_from_db(r[1]) for r in rows])
    originals = sorted({p for p in paths if p not in made})
    centre: dict[str, tuple[float, int]] = {}
    for i, row in enumerate(rows):
        if paths[i] not in made and (paths[i] not in centre or row[5] < centre[paths[i]][0]):
            centre[paths[i]] = (row[5], i)
    scored = np.array(sorted(i for _, i in centre.values()))
    truth = np.array([_identity(Path(paths[i])) for i in scored])
    copyable = sorted({str(original) for original, _ in made.values()} & set(originals))
    results = []
    for seed in range(seeds):
        chosen = sorted(random.Random(seed).sample(copyable, copied))
        turn = {original: list(VARIANTS)[i % len(VARIANTS)] for i, original in enumerate(chosen)}
        added = {copy for copy, (original, variant) in made.items() if turn.get(str(original)) == variant}
        for rule, (copy_distance, signature_distance) in RULES.items():
            copies.COPY_DISTANCE, copies.SIGNATURE_DISTANCE = copy_distance, signature_distance
            runs = {
                label: _cluster(rows, paths, keep, scored)
                for label, keep in (("without", set(originals)), ("with", set(originals) | added))
            }
            results.append(
                {
                    "seed": seed,
                    "rule": rule,
                    "copies": len(added),
                    "same_partition": _same_partition(runs["without"][1], runs["with"][1]),
                    **{label: {"faces": faces, **scores(persons, truth)} for label, (faces, persons) in runs.items()},
                }
            )
    copies.COPY_DISTANCE, copies.SIGNATURE_DISTANCE = COPY_DISTANCE, SIGNATURE_DISTANCE
    return results


def _cluster(rows: list, paths: np.ndarray, keep: set[str], scored: np.ndarray) -> tuple[int, np.ndarray]:
    """Cluster the faces of the photos in ``keep``; the persons of the ``scored`` faces."""
    kept = np.array([i for i in range(len(rows)) if paths[i] in keep])
    faces = Faces(
        ids=np.array([rows[i][0] for i in kept]),
        photos=np.array([rows[i][2] for i in kept]),
        embeddings=np.frombuffer(b"".join(rows[i][4] for i in kept), np.float32).reshape(len(kept), -1),
        sizes=np.array([rows[i][3] for i in kept], dtype=np.float64),
        persons=np.full(len(kept), NO_PERSON),
        fixed=np.zeros(len(kept), dtype=bool),
        signatures=signature_rows([rows[i][6] for i in kept]),
    )
    persons = plan(faces, exact_neighbours(faces.embeddings), Decisions(), ClusterSettings()).persons
    return len(kept), persons[np.searchsorted(kept, scored)]


def _same_partition(a: np.ndarray, b: np.ndarray) -> bool:
    """The two labellings group the faces the same way (unassigned faces alone)."""
    a, b = a.copy(), b.copy()
    a[a == NO_PERSON] = a.max() + 1 + np.arange((a == NO_PERSON).sum())
    b[b == NO_PERSON] = b.max() + 1 + np.arange((b == NO_PERSON).sum())
    pairs = set(zip(a.tolist(), b.tolist(), strict=True))
    return len(pairs) == len(set(a.tolist())) == len(set(b.tolist()))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", type=Path, help="a folder per person (people/, fivecelebs/)")
    parser.add_argument("--work", type=Path, help="where the copies and the catalog go")
    parser.add_argument("--sample", type=int, default=0, help="copy only this many photos (0: all)")
    parser.add_argument("--quality", action="store_true", help="also BCubed F without and with copies")
    parser.add_argument("--copied", type=int, default=40, help="with --quality: photos given a near-copy")
    parser.add_argument("--seed", type=int, default=0, help="which photos --sample copies")
    parser.add_argument("--seeds", type=int, default=5, help="with --quality: samples of --copied photos")
    parser.add_argument("--aligned", type=Path, help="only the same-place rule on this catalog of aligned crops (LFW)")
    args = parser.parse_args()
    if args.aligned:
        rows = aligned_pairs(args.aligned)
        print(json.dumps(rows, indent=1))
        print(f"wrote {write_result('near_copies_aligned', {'db': args.aligned.name, 'rows': rows})}")
        return 0
    source = args.source.absolute()
    originals = photos(source)
    sample = random.Random(args.seed).sample(originals, args.sample) if args.sample else originals
    db = args.work / "catalog.db"
    made_file = args.work / "made.tsv"
    if not made_file.exists():
        made = make_copies(sorted(sample), source, args.work / "copies")
        made_file.write_text("".join(f"{c}\t{o}\t{v}\n" for c, (o, v) in made.items()))
    scan(db, source, args.work / "copies")  # up to date; gives faces of an older scan their signatures
    made = {c: (Path(o), v) for c, o, v in (line.split("\t") for line in made_file.read_text().splitlines() if line)}
    result = {"source": os.path.basename(source), "rule": COPY_DISTANCE, **distributions(db, made, source)}
    if args.quality:
        result["quality"] = quality(db, made, args.copied, args.seeds)
    path = write_result(f"near_copies_{result['source']}", result)
    print(json.dumps(result, indent=1))
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
