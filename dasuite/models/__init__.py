"""Backbones (feature extractors) and heads (classifier, domain discriminator)."""
