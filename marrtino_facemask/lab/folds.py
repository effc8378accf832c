"""k-fold cross-validation over the photos of one or more datasets.

Folds are made of split groups (a photo with its near-duplicates, never across datasets:
:func:`data.load_datasets`), stratified on (dataset, class) of the faces by scikit-learn's
``StratifiedGroupKFold`` (on the groups in a seeded random order), so that each fold holds
its share of every dataset and of the rare class. The assignment is saved as ``folds.json``
so that training and evaluation read the same folds; a photo is named by its dataset and
file stem (:func:`photo_key`).
"""

import json
import os

import numpy as np

from .data import DatasetError, load_run_file, stem_of

FOLDS_FORMAT = "marrtino_facemask.folds"


def photo_key(sample):
    """How folds.json names a sample's photo: ``dataset/stem`` (``stem`` with one dataset)."""
    stem = stem_of(sample.image)
    return f"{sample.source}/{stem}" if sample.source else stem


def assign_folds(samples, k=5, seed=0):
    """{group: fold index} of the samples' split groups (see the module's docstring)."""
    from sklearn.model_selection import StratifiedGroupKFold
    groups = sorted({s.group for s in samples})
    if len(groups) < k:
        raise DatasetError(f"{len(groups)} photo groups cannot make {k} folds")
    # The groups are shuffled here, seeded, and the splitter keeps their order: its own
    # shuffle=True stratifies badly before scikit-learn 1.8 (rare-class counts of 12 to 25
    # per fold on our photos with 1.7, the newest release for Python 3.10), and the folds
    # would depend on the version. This way every version gives the same folds.
    rank = {g: r for r, g in enumerate(
        groups[i] for i in np.random.default_rng(seed).permutation(len(groups)))}
    order = sorted(range(len(samples)), key=lambda i: rank[samples[i].group])
    strata = sorted({(s.source, s.label) for s in samples})
    y = np.array([strata.index((samples[i].source, samples[i].label)) for i in order])
    g = np.array([rank[samples[i].group] for i in order])
    folds = {}
    splitter = StratifiedGroupKFold(n_splits=k, shuffle=False)
    for fold, (_, held) in enumerate(splitter.split(np.zeros(len(order)), y, g)):
        for i in held:
            folds[samples[order[i]].group] = fold
    return folds


def folds_dict(samples, folds, k, seed, datasets):
    """The assignment as folds.json holds it: each photo's fold, by file stem."""
    return {"format": FOLDS_FORMAT, "k": k, "seed": seed,
            "datasets": [os.path.abspath(d) for d in datasets],
            "photos": {photo_key(s): folds[s.group] for s in samples}}


def save_folds(path, samples, folds, k, seed, datasets):
    data = folds_dict(samples, folds, k, seed, datasets)
    with open(path, "w") as f:
        json.dump(data, f, indent=1, sort_keys=True)
    return data


def load_folds(path):
    return load_run_file(path, FOLDS_FORMAT, "folds", "marrtino_facemask train --folds")


def fold_of(samples, folds_data):
    """Each sample's fold from a folds.json (by :func:`photo_key`); a photo that the file
    does not name is an error, so that no photo is silently trained and tested on.
    """
    photos = folds_data["photos"]
    missing = sorted({photo_key(s) for s in samples} - set(photos))
    if missing:
        raise DatasetError(f"{len(missing)} photos are in no fold of the folds file (first: "
                           f"{missing[0]}): make the folds again with these datasets")
    return [photos[photo_key(s)] for s in samples]
