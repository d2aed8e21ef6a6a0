"""A stand-in family album made from a real catalog: households of look-alikes who grow up.

No family album with children at several ages is among the shared sets, and the held-out one
(1,020 photos of 91 people in 14 households) is where the embedding alone fails: siblings and
parents look alike, a child at 4 is nearer a sibling at 4 than themselves at 12. This builds a
catalog with that structure from real faces, so the effort benchmark and the clustering
benchmark can measure the review queue where the embedding cannot finish the job:

- **People**: ``--people`` LFW people with 6 to 30 photos (seeded), whole, every other photo
  removed (``benchmarks.effort.keep_only``); their labelled faces (the largest of each photo)
  are moved, the other faces of their photos left as they are.
- **Households**: the people in ``--households`` seeded groups; the first two of each are the
  parents, the others children. Every labelled face is pulled towards its household's mean face
  by ``--pull`` of the way from its person's mean (children; parents half as far), so the people
  of one household lie nearer each other than strangers do, as relatives do.
- **Growing up**: each child's photos (in file order) span ages 2 to 14; a face moves by
  ``--growth`` times (age - 8) / 12 along a direction mostly shared by the household's
  children, so a child at 2 and at 14 lie ``--growth`` apart, and two siblings at one age share
  the offset. Parents do not change.
- **Dates**: every labelled photo gets ``photos.taken_at`` from the age (each household's
  children born 2 years apart, from 2000 + household); photos of parents spread over the
  same years. The photo's real pixels, boxes and signatures are unchanged.

Embeddings are unit vectors again after moving; the face index is derived and rebuilt. The
result is written to ``--out`` (a new catalog; the source is read only)::

    python -m benchmarks.family --db /tmp/cat/lfw.db --data-root ../shared/data/lfw/images --out /tmp/cat/family.db
    python -m benchmarks.clustering --db /tmp/cat/family.db --name clustering_family
    python -m benchmarks.effort --db /tmp/cat/family.db --data-root ../shared/data/lfw/images

It is a stand-in, not the album: real siblings differ in ways a shift of the mean does not
copy, and real faces do not age along one direction. The defaults are set so that average-link
clustering's best threshold reaches about the album's F 0.50 (docs/people.md).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections import Counter
from pathlib import Path, PurePath

import numpy as np
from rich.console import Console

from benchmarks.effort import copy_catalog, identity, is_person, keep_only, read_truth
from photoface.catalog import Catalog, path_from_db, path_to_db

PEOPLE = 91
HOUSEHOLDS = 14
PULL = 0.9  # of the way from a child's mean face to the household's (parents: half)
GROWTH = 1.4  # how far a child at 2 lies from themselves at 14 (unit embeddings)
PHOTOS = (6, 30)  # people with this many photos
PARENTS = 2  # per household
AGES = (2.0, 14.0)
SHARED = 0.8  # how much of a child's growth direction is their household's
SEED = 0


def choose_people(catalog: Catalog, root: Path, count: int, rng: np.random.Generator) -> list[str]:
    """``count`` people with ``PHOTOS`` photos, seeded."""
    counts = Counter(
        label
        for (path,) in catalog.db.execute("SELECT path FROM photos WHERE status = 'ok'")
        if (label := identity(PurePath(os.path.relpath(path_from_db(path), root)))) is not None and is_person(label)
    )
    candidates = sorted(person for person, n in counts.items() if PHOTOS[0] <= n <= PHOTOS[1])
    if len(candidates) < count:
        raise SystemExit(f"only {len(candidates)} people with {PHOTOS[0]}-{PHOTOS[1]} photos, {count} asked")
    return sorted(candidates[i] for i in rng.permutation(len(candidates))[:count])


def build(
    source: Path,
    root: Path,
    out: Path,
    *,
    people: int = PEOPLE,
    households: int = HOUSEHOLDS,
    pull: float = PULL,
    growth: float = GROWTH,
    seed: int = SEED,
) -> dict:
    """Write the stand-in album to ``out``; returns its make-up."""
    rng = np.random.default_rng(seed)
    _copy(source, out)
    with Catalog.open(out, create=False) as catalog:
        chosen = choose_people(catalog, root, people, rng)
        keep_only(catalog, root, chosen)
        truth = read_truth(catalog, root)
        order = [chosen[i] for i in rng.permutation(len(chosen))]
        groups = [list(group) for group in np.array_split(np.array(order), households)]
        faces = {row["id"]: row for row in catalog.faces(embeddings=True)}
        by_person: dict[str, list[int]] = {}
        for face, label in sorted(truth.labels.items(), key=lambda item: faces[item[0]]["photo"]):
            by_person.setdefault(label, []).append(face)
        updates, dates = [], []
        for number, group in enumerate(groups):
            moved = _household(group, by_person, faces, number, strength=(pull, growth), rng=rng)
            updates += [(vector.astype(np.float32).tobytes(), face) for face, vector, _ in moved]
            dates += [(day, faces[face]["photo"]) for face, _, day in moved]
        with catalog.transaction():
            catalog.db.conn.executemany("UPDATE faces SET embedding = ? WHERE id = ?", updates)
            catalog.db.conn.executemany(
                "UPDATE photos SET taken_at = ? WHERE path = ?",
                [(day, path_to_db(path)) for day, path in dates],
            )
    for suffix in (".faces.usearch", ".faces.json"):  # derived: rebuilt from the moved embeddings
        out.with_name(out.name + suffix).unlink(missing_ok=True)
    return {
        "people": len(chosen),
        "households": [[str(p) for p in group] for group in groups],
        "photos": truth.photo_count,
        "pull": pull,
        "growth": growth,
        "seed": seed,
    }


def _household(
    group: list[str],
    by_person: dict[str, list[int]],
    faces: dict[int, dict],
    number: int,
    *,
    strength: tuple[float, float],
    rng: np.random.Generator,
) -> list[tuple[int, np.ndarray, str]]:
    """Each labelled face of the household's people: (face, moved unit embedding, date);
    ``strength``: the pull and the growth."""
    pull, growth = strength
    means = {p: np.mean([faces[f]["embedding"] for f in by_person[p]], axis=0) for p in group}
    centre = np.mean(list(means.values()), axis=0)
    shared = _unit(rng.standard_normal(len(centre)))
    first_birth = 2000 + number
    moved = []
    for rank, person in enumerate(group):
        parent = rank < PARENTS
        own = means[person]
        direction = _unit(SHARED * shared + (1 - SHARED) * _unit(rng.standard_normal(len(centre))))
        born = first_birth - 30 + rank if parent else first_birth + 2 * (rank - PARENTS)
        mine = by_person[person]
        for position, face in enumerate(mine):
            step = position / max(len(mine) - 1, 1)
            age = AGES[0] + step * (AGES[1] - AGES[0])
            vector = np.asarray(faces[face]["embedding"], np.float64)
            if parent:
                vector = vector + pull / 2 * (centre - own)
                year = first_birth + 2 + step * (AGES[1] - AGES[0])  # over the children's years
            else:
                vector = vector + pull * (centre - own) + growth * (age - 8) / 12 * direction
                year = born + age
            moved.append((face, _unit(vector), _day(year)))
    return moved


def _day(year: float) -> str:
    whole = int(year)
    month = 1 + int((year - whole) * 12)
    return f"{whole:04d}-{month:02d}-15T12:00:00"


def _unit(vector: np.ndarray) -> np.ndarray:
    return vector / (np.linalg.norm(vector) or 1.0)


def _copy(source: Path, out: Path) -> None:
    if out.exists():
        raise SystemExit(f"{out} exists: give a new --out")
    copy_catalog(source, out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", type=Path, required=True, help="a scanned LFW catalog (read only)")
    parser.add_argument("--data-root", type=Path, required=True, help="the folder scanned: <person>/photo")
    parser.add_argument("--out", type=Path, required=True, help="the new catalog")
    parser.add_argument("--people", type=int, default=PEOPLE)
    parser.add_argument("--households", type=int, default=HOUSEHOLDS)
    parser.add_argument("--pull", type=float, default=PULL, help="towards the household's mean face")
    parser.add_argument("--growth", type=float, default=GROWTH, help="a child at 2 against 14")
    parser.add_argument("--seed", type=int, default=SEED)
    args = parser.parse_args()
    made = build(
        args.db,
        args.data_root.resolve(),
        args.out,
        people=args.people,
        households=args.households,
        pull=args.pull,
        growth=args.growth,
        seed=args.seed,
    )
    Console().print(
        f"{args.out}: {made['photos']} photos of {made['people']} people in {len(made['households'])} households "
        f"(pull {made['pull']}, growth {made['growth']})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
