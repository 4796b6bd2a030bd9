"""t-SNE settings: the paper's defaults, checks, and the perplexity reduction for small samples."""
import pytest

from mmsls.criteria import TSNESettings
from mmsls.criteria.tsne_settings import effective_perplexity


def test_defaults_are_the_papers():
    settings = TSNESettings()
    assert (settings.perplexity, settings.learning_rate, settings.max_iter) == (30.0, 50.0, 1000)
    assert (settings.early_exaggeration, settings.exaggeration_iter) == (12.0, 250)


@pytest.mark.parametrize('kwargs', [
    dict(perplexity=0), dict(learning_rate=-1), dict(early_exaggeration=0.5),
    dict(max_iter=200), dict(exaggeration_iter=0),
])
def test_bad_settings_are_refused(kwargs):
    with pytest.raises(ValueError):
        TSNESettings(**kwargs)


def test_perplexity_is_kept_when_the_sample_is_large_enough():
    assert effective_perplexity(30.0, 91) == 30.0  # 3 * 30 + 1 neighbours exist


@pytest.mark.parametrize('num_samples', [90, 30, 12])
def test_perplexity_is_reduced_with_a_warning_on_small_samples(num_samples):
    with pytest.warns(UserWarning, match=f'too large for {num_samples} samples'):
        perplexity = effective_perplexity(30.0, num_samples)
    assert perplexity == pytest.approx((num_samples - 1) / 3)


def test_a_single_sample_is_refused():
    with pytest.raises(ValueError, match='at least 2 samples'):
        effective_perplexity(30.0, 1)
