"""SLS layer analysis: one-pass feature capture over a dataset, dense-task labelling, plots."""
from .capture import LayerFeatures, capture_layer_features
from .labelling import majority_token_labels, pool_regions
from .layer_analysis import (SCORES_JSON, SCORES_PNG, TSNE_PNG, LayerAnalysis, add_to_visualizer,
                             analyze_layers, format_score_table, write_analysis)
from .plots import plot_layer_scores, plot_tsne_grid
from .sampling import analysis_pipeline, balanced_counts, select_balanced

__all__ = [
    'LayerAnalysis', 'LayerFeatures', 'add_to_visualizer', 'analysis_pipeline', 'SCORES_JSON', 'SCORES_PNG',
    'TSNE_PNG', 'analyze_layers', 'balanced_counts',
    'capture_layer_features', 'format_score_table', 'majority_token_labels',
    'plot_layer_scores', 'plot_tsne_grid', 'pool_regions', 'select_balanced', 'write_analysis'
]
