"""t-SNE settings of the SLS criterion and the perplexity rule for small samples."""
import warnings
from dataclasses import dataclass


@dataclass(frozen=True)
class TSNESettings:
    """The t-SNE optimisation, with the SLS paper's values as defaults.

    The optimiser is sklearn's: gradient descent with per-parameter gains, ``exaggeration_iter``
    iterations with the input affinities multiplied by ``early_exaggeration`` and momentum 0.5, then
    momentum 0.8 up to ``max_iter`` iterations in all. The embedding is 2-D and starts from the
    first two principal components scaled to a standard deviation of 1e-4.

    Args:
        perplexity (float): Effective number of neighbours. Defaults to 30.
        learning_rate (float): Step size in sklearn's convention (openTSNE's is 4x larger).
            Defaults to 50.
        max_iter (int): Total number of iterations, exaggeration included. Defaults to 1000.
        early_exaggeration (float): Factor on the input affinities in the first phase.
            Defaults to 12 (sklearn's).
        exaggeration_iter (int): Length of the first phase. Defaults to 250 (sklearn's, fixed
            there; the 'sklearn' backend only accepts 250).
    """

    perplexity: float = 30.0
    learning_rate: float = 50.0
    max_iter: int = 1000
    early_exaggeration: float = 12.0
    exaggeration_iter: int = 250

    def __post_init__(self):
        if self.perplexity <= 0 or self.learning_rate <= 0 or self.early_exaggeration < 1:
            raise ValueError('perplexity and learning_rate must be positive and '
                             f'early_exaggeration >= 1, got {self}.')
        if not 0 < self.exaggeration_iter <= self.max_iter:
            raise ValueError('Need 0 < exaggeration_iter <= max_iter, got exaggeration_iter='
                             f'{self.exaggeration_iter}, max_iter={self.max_iter}.')


def effective_perplexity(perplexity: float, num_samples: int) -> float:
    """The perplexity actually used on ``num_samples`` points.

    Barnes-Hut t-SNE builds its affinities from the ``3 * perplexity`` nearest neighbours of every
    point; on samples too small for that (``3 * perplexity > num_samples - 1``, which includes every
    ``perplexity >= num_samples``) the perplexity is reduced to ``(num_samples - 1) / 3`` with a
    warning, instead of failing.
    """
    largest = (num_samples - 1) / 3
    if perplexity <= largest:
        return perplexity
    if largest <= 0:
        raise ValueError(f't-SNE needs at least 2 samples, got {num_samples}.')
    warnings.warn(f'perplexity {perplexity} is too large for {num_samples} samples (it needs '
                  f'3 * perplexity + 1 <= N); using perplexity {largest:.3g} = (N - 1) / 3.')
    return largest
