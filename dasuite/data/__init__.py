"""Dataset pairs: a source and a target domain, split for training and evaluation."""

from dasuite.data.pair import Domains, DomainPair, Labeled, split

__all__ = ["Domains", "DomainPair", "Labeled", "split"]
