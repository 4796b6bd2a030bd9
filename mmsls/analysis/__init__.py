"""SLS layer analysis: one-pass feature capture over a dataset, dense-task labelling, plots."""
from .capture import LayerFeatures, capture_layer_features
from .labelling import majority_token_labels, pool_regions
from .layer_analysis import (SCORES_JSON, SCORES_PNG, TSNE_PNG, LayerAnalysis, analyze_layers,
                             format_score_table, write_analysis)
from .plots import plot_layer_scores, plot_tsne_grid
from .sampling import balanced_counts, select_balanced
from .views import FEATURE_VIEWS, FeatureView, SwinBlocksView, ViTTokensView, feature_view

__all__ = [
    'FEATURE_VIEWS', 'FeatureView', 'LayerAnalysis', 'LayerFeatures', 'SCORES_JSON', 'SCORES_PNG',
    'SwinBlocksView', 'TSNE_PNG', 'ViTTokensView', 'analyze_layers', 'balanced_counts',
    'capture_layer_features', 'feature_view', 'format_score_table', 'majority_token_labels',
    'plot_layer_scores', 'plot_tsne_grid', 'pool_regions', 'select_balanced', 'write_analysis'
]
