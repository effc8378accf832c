"""Classification metrics and their pictures (confusion matrix, training curves)."""

import numpy as np


def confusion_matrix(y_true, y_pred, num_classes):
    """(num_classes, num_classes) counts, rows true classes (scikit-learn's)."""
    from sklearn.metrics import confusion_matrix as sk_confusion_matrix
    if len(y_true) == 0:
        return np.zeros((num_classes, num_classes), np.int64)
    return sk_confusion_matrix(np.asarray(y_true, int), np.asarray(y_pred, int),
                               labels=list(range(num_classes))).astype(np.int64)


def classification_report(cm, class_names):
    """Accuracy, per-class precision/recall/F1/support and their means over the classes
    present, from a confusion matrix (scikit-learn's formulas, zero where undefined).
    """
    from sklearn.metrics import precision_recall_fscore_support
    cm = np.asarray(cm, dtype=np.int64)
    n = len(class_names)
    # the matrix back as label pairs, which is what scikit-learn takes
    y_true = np.repeat(np.repeat(np.arange(n), n), cm.ravel())
    y_pred = np.repeat(np.tile(np.arange(n), n), cm.ravel())
    if len(y_true):
        precision, recall, f1, support = precision_recall_fscore_support(
            y_true, y_pred, labels=list(range(n)), zero_division=0)
    else:
        precision = recall = f1 = support = np.zeros(n)
    present = support > 0
    total = int(cm.sum())
    return {
        "num_samples": total,
        "accuracy": float(np.trace(cm) / total) if total else 0.0,
        "macro_precision": float(precision[present].mean()) if present.any() else 0.0,
        "macro_recall": float(recall[present].mean()) if present.any() else 0.0,
        "macro_f1": float(f1[present].mean()) if present.any() else 0.0,
        "per_class": {
            name: {"precision": float(precision[i]), "recall": float(recall[i]),
                   "f1": float(f1[i]), "support": int(support[i])}
            for i, name in enumerate(class_names)},
        "confusion_matrix": cm.astype(int).tolist(),
        "class_names": list(class_names),
    }


def _pyplot():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def plot_confusion_matrix(cm, class_names, path, title="Confusion matrix"):
    """Two panels: raw counts and row-normalised (recall per true class)."""
    plt = _pyplot()
    cm = np.asarray(cm, dtype=np.float64)
    rows = cm.sum(axis=1, keepdims=True)
    norm = np.divide(cm, rows, out=np.zeros_like(cm), where=rows > 0)
    short = [n.replace("mask_weared_incorrect", "incorrect") for n in class_names]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.6))
    for ax, data, fmt, sub in ((axes[0], cm, "{:.0f}", "counts"),
                               (axes[1], norm, "{:.2f}", "row-normalised")):
        im = ax.imshow(data, cmap="Blues", vmin=0, vmax=max(data.max(), 1e-9))
        ax.set_xticks(range(len(short)), short, rotation=20)
        ax.set_yticks(range(len(short)), short)
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        ax.set_title(f"{title} ({sub})")
        for i in range(data.shape[0]):
            for j in range(data.shape[1]):
                ax.text(j, i, fmt.format(data[i, j]), ha="center", va="center",
                        color="white" if data[i, j] > 0.6 * data.max() else "black")
        fig.colorbar(im, ax=ax, fraction=0.046)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_training_curves(rows, path):
    """Loss, accuracy and macro scores per epoch from the training CSV rows (the validation
    curves where the run had a validation side).
    """
    plt = _pyplot()
    epochs = [r["epoch"] for r in rows]
    val = "val_loss" in rows[0]
    fig, axes = plt.subplots(1, 3 if val else 2, figsize=(14 if val else 10, 4))
    axes[0].plot(epochs, [r["train_loss"] for r in rows], label="train")
    axes[1].plot(epochs, [r["train_acc"] for r in rows], label="train")
    if val:
        axes[0].plot(epochs, [r["val_loss"] for r in rows], label="val")
        axes[1].plot(epochs, [r["val_acc"] for r in rows], label="val")
        axes[2].plot(epochs, [r["val_macro_f1"] for r in rows], label="val macro-F1")
        axes[2].plot(epochs, [r["val_macro_recall"] for r in rows], label="val macro recall")
        axes[2].set_title("validation macro scores")
    axes[0].set_title("loss")
    axes[1].set_title("accuracy")
    for ax in axes:
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
