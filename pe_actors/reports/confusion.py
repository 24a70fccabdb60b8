"""The confusion matrix of a classifier's predictions, its per-class recall, and its picture."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pe_actors.reports.figures import pyplot, save_figure


def confusion_matrix(labels: np.ndarray, predictions: np.ndarray, n_classes: int) -> np.ndarray:
    """Counts C[i, j] of samples of true class i predicted as class j."""
    matrix = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(matrix, (labels, predictions), 1)
    return matrix


def per_class_recall(matrix: np.ndarray) -> np.ndarray:
    """Recall per true class, C[i, i] / sum_j C[i, j] (NaN for a class without samples)."""
    totals = matrix.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(totals > 0, np.diag(matrix) / np.maximum(totals, 1), np.nan)


def plot_confusion(matrix: np.ndarray, class_names: list[str], path: Path, title: str) -> Path:
    """The confusion matrix as a PNG, rows normalised to recall, with the counts written in the cells."""
    plt = pyplot()
    totals = np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(7.5, 6.5))
    image = ax.imshow(matrix / totals, cmap="Blues", vmin=0, vmax=1)
    ticks = np.arange(len(class_names))
    ax.set_xticks(ticks, class_names, rotation=45, ha="right")
    ax.set_yticks(ticks, class_names)
    ax.set(xlabel="predicted", ylabel="true")
    ax.set_title(title, fontsize=10)
    for i in range(len(class_names)):
        for j in range(len(class_names)):
            if matrix[i, j]:
                colour = "white" if matrix[i, j] / totals[i, 0] > 0.5 else "black"
                ax.text(j, i, str(matrix[i, j]), ha="center", va="center", fontsize=7, color=colour)
    fig.colorbar(image, ax=ax, label="fraction of the true class")
    return save_figure(fig, path)
