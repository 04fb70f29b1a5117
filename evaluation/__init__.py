"""Evaluating trained models: metrics arithmetic, the judge classifier, sample grids."""
