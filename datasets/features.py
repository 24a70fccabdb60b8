"""Log-mel features with first-order deltas, per docs/data.md.

A 1 s clip at 16 kHz becomes a float32 array of shape (100, 80): 100 frames of 10 ms (window 480 samples = 30 ms,
hop 160), each with 40 log-mel energies (20-4000 Hz) followed by their 40 first-order deltas. librosa is called
with keyword arguments only (the positional form broke in librosa 0.10).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import librosa
import numpy as np

SAMPLE_RATE = 16_000
CLIP_SAMPLES = SAMPLE_RATE


@dataclass(frozen=True)
class FeatureParams:
    """Parameters of the log-mel + delta features (docs/data.md); stored in every cache's metadata."""

    sample_rate: int = SAMPLE_RATE
    n_fft: int = 480
    win_length: int = 480
    hop_length: int = 160
    n_mels: int = 40
    fmin: float = 20.0
    fmax: float = 4000.0
    n_frames: int = 100
    log_floor: float = 1e-6
    delta_width: int = 9

    @property
    def n_features(self) -> int:
        """Features per frame: the log-mel bands and their deltas."""
        return 2 * self.n_mels

    def to_dict(self) -> dict:
        """The parameters as a plain dict (for metadata files)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> FeatureParams:
        """Parameters read back from metadata; unknown keys are an error."""
        unknown = set(values) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown feature parameters {sorted(unknown)}; valid: {sorted(cls.__dataclass_fields__)}")
        return cls(**values)


DEFAULT_PARAMS = FeatureParams()


def fit_clip(audio: np.ndarray, *, length: int = CLIP_SAMPLES) -> np.ndarray:
    """Zero-pad a clip to ``length`` samples with the audio centred, or trim it to its first ``length`` samples."""
    audio = np.asarray(audio, dtype=np.float32)
    if audio.shape[0] >= length:
        return audio[:length]
    pad = length - audio.shape[0]
    return np.pad(audio, (pad // 2, pad - pad // 2))


def log_mel_delta(audio: np.ndarray, *, params: FeatureParams = DEFAULT_PARAMS) -> np.ndarray:
    """Log-mel energies and their first-order deltas of one clip, float32 (n_frames, 2 n_mels).

    ``audio`` is mono at ``params.sample_rate``; it is padded (centred) or trimmed to n_frames hops first.
    Mel power spectrogram (periodic Hann window, centred frames), ``log(mel + log_floor)``, then
    ``librosa.feature.delta`` over time; frames beyond n_frames are dropped (a centred 1 s clip gives 101).
    """
    clip = fit_clip(audio, length=params.n_frames * params.hop_length)
    mel = librosa.feature.melspectrogram(
        y=clip,
        sr=params.sample_rate,
        n_fft=params.n_fft,
        win_length=params.win_length,
        hop_length=params.hop_length,
        n_mels=params.n_mels,
        fmin=params.fmin,
        fmax=params.fmax,
        power=2.0,
    )
    log_mel = np.log(mel + params.log_floor)
    delta = librosa.feature.delta(data=log_mel, width=params.delta_width, order=1, axis=-1)
    features = np.concatenate([log_mel, delta], axis=0)[:, : params.n_frames]
    return np.ascontiguousarray(features.T, dtype=np.float32)


def normalisation_stats(features: np.ndarray, *, chunk: int = 1024) -> tuple[np.ndarray, np.ndarray]:
    """Per-feature mean and standard deviation over clips and frames of an (N, frames, F) array, float64.

    Accumulated in chunks so a memory-mapped training split is never loaded whole. A feature with zero spread
    gets std 1 so normalising it leaves it at zero.
    """
    if features.ndim != 3 or features.shape[0] == 0:
        raise ValueError(f"need a non-empty (N, frames, features) array to normalise, got shape {features.shape}")
    total = np.zeros(features.shape[2])
    total_sq = np.zeros(features.shape[2])
    count = 0
    for start in range(0, features.shape[0], chunk):
        block = np.asarray(features[start : start + chunk], dtype=np.float64).reshape(-1, features.shape[2])
        total += block.sum(axis=0)
        total_sq += (block**2).sum(axis=0)
        count += block.shape[0]
    mean = total / count
    std = np.sqrt(np.maximum(total_sq / count - mean**2, 0.0))
    std[std < 1e-8] = 1.0
    return mean, std


def normalise(features: np.ndarray, *, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """``(features - mean) / std`` per feature (last axis), as float32."""
    return ((features - mean) / std).astype(np.float32)

