"""SLS's t-SNE silhouette through select_depth: known depths, backends agree, small samples."""
import numpy as np
import pytest

from mmsls.criteria import TSNESettings, select_depth
from mmsls.criteria.silhouette import embedding_silhouette
from mmsls.criteria.synthetic import synthetic_layer_features

BACKENDS = ['sklearn', 'fast', 'torch']
pytestmark = pytest.mark.usefixtures('one_torch_thread')


@pytest.fixture(scope='module')
def rise_then_fall():
    """Layers 1-2 mix all 4 classes, 3-4 separate all, the top layer separates 3 of 4: k = 3."""
    return synthetic_layer_features([0.0, 0.0, 1.0, 1.0, 0.75], 200, 4, num_dims=32, seed=0)


@pytest.fixture(scope='module')
def reference(rise_then_fall):
    return select_depth(*rise_then_fall, backend='sklearn', return_embeddings=True)


def test_reference_keeps_the_known_depth(reference):
    assert reference.kept_depth == 3
    assert max(reference.scores[:2]) < 0.1 < reference.threshold < 0.3
    assert min(reference.scores[2:]) > 0.75
    assert (reference.backend, reference.criterion, reference.alpha) == ('sklearn',
                                                                         'tsne_silhouette', 0.3)


@pytest.mark.parametrize('backend', ['fast', 'torch'])
def test_fast_backends_agree_with_the_reference(rise_then_fall, reference, backend):
    for seed in (0, 1):
        selection = select_depth(*rise_then_fall, backend=backend, seed=seed)
        assert selection.kept_depth == reference.kept_depth
        np.testing.assert_allclose(selection.scores, reference.scores, atol=0.06)


@pytest.mark.parametrize('backend', BACKENDS)
def test_embeddings_are_returned_on_request(rise_then_fall, reference, backend):
    selection = (reference if backend == 'sklearn' else
                 select_depth(*rise_then_fall, backend=backend, return_embeddings=True))
    assert [e.shape for e in selection.embeddings] == [(200, 2)] * 5
    # The scores are the silhouettes of exactly these embeddings.
    labels = rise_then_fall[1]
    np.testing.assert_allclose([embedding_silhouette(e, labels) for e in selection.embeddings],
                               selection.scores, rtol=1e-9)


@pytest.mark.parametrize('backend', BACKENDS)
def test_unseparated_top_layer_keeps_every_layer_with_a_warning(backend):
    # 20 classes of 10 points: noise features give the top layer a clearly negative silhouette.
    features, labels = synthetic_layer_features([1.0, 0.5, 0.0], 200, 20, num_dims=32, seed=0)
    with pytest.warns(UserWarning, match='keeping all 3 layers'):
        selection = select_depth(features, labels, backend=backend)
    assert selection.kept_depth == 3
    assert selection.scores[-1] < -0.1 < 0.5 < selection.scores[0]


@pytest.mark.parametrize('backend', BACKENDS)
def test_perplexity_is_reduced_on_a_small_sample(backend):
    features, labels = synthetic_layer_features([0.0, 1.0, 1.0], 45, 3, num_dims=16, seed=0)
    with pytest.warns(UserWarning, match='perplexity 30.0 is too large for 45 samples'):
        selection = select_depth(features, labels, backend=backend)
    assert selection.kept_depth == 2


@pytest.mark.parametrize('backend', BACKENDS)
def test_layers_may_differ_in_width(backend):
    # Swin stages double the channels; every layer is embedded in its own space.
    features, labels = synthetic_layer_features([0.0, 1.0, 1.0], 120, 3, num_dims=32, seed=0)
    features[0] = features[0][:, :8]
    features[2] = np.concatenate([features[2], features[2]], axis=1)
    selection = select_depth(features, labels, backend=backend,
                             tsne=TSNESettings(perplexity=15.0, max_iter=500))
    assert selection.kept_depth == 2 and selection.scores[0] < 0.1 < 0.8 < selection.scores[1]
