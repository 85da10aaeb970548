"""Reusable domain-adaptation losses as plain ``torch.nn.Module``s, usable in any training loop.

Each module's docstring gives its formula and paper. Alignment losses take source and target
activations (``f_s, f_t``); prediction losses take logits.

| module | what it measures |
| --- | --- |
| :class:`GradientReversal` / :func:`grad_reverse` | identity forward, ``-coeff`` × gradient backward (DANN) |
| :class:`DomainAdversarialLoss` | discriminator loss behind gradient reversal (DANN) |
| :class:`ConditionalDomainAdversarialLoss` + :class:`MultilinearMap` | the same on features ⊗ predictions (CDAN, CDAN+E) |
| :class:`MultiKernelMMD` | multi-kernel Gaussian MMD² (DAN) |
| :class:`JointMMD` | MMD² of the product kernel over several layers (JAN) |
| :class:`CORALLoss` | distance between feature covariances (Deep CORAL) |
| :class:`MinimumClassConfusionLoss` | confusion between classes in target predictions (MCC) |
| :class:`MarginDisparityDiscrepancy` | margin disparity of an adversarial head vs. the classifier (MDD) |
| :class:`EntropyLoss`, :class:`InformationMaximizationLoss` | prediction entropy; entropy minus diversity (SHOT) |
| :class:`ConfidentPseudoLabelLoss` | cross-entropy to confident own predictions (self-training) |
| :func:`shot_pseudo_labels` | SHOT's centroid-based pseudo-labels of a whole set |
| :func:`class_centroids`, :func:`nearest_centroid` | a lighter variant of them (CDTrans' pairs) |
"""

from dasuite.losses.cdan import ConditionalDomainAdversarialLoss, MultilinearMap, multilinear_map
from dasuite.losses.coral import CORALLoss, covariance
from dasuite.losses.domain_adversarial import DomainAdversarialLoss
from dasuite.losses.entropy import EntropyLoss, InformationMaximizationLoss, entropy
from dasuite.losses.grl import GradientReversal, grad_reverse, progressive_coeff, reversal_coeff, warm_start_coeff
from dasuite.losses.jan import JointMMD
from dasuite.losses.mcc import MinimumClassConfusionLoss, class_confusion
from dasuite.losses.mdd import MarginDisparityDiscrepancy
from dasuite.losses.mmd import MultiKernelMMD, mmd_from_kernel, multi_gaussian_kernel
from dasuite.losses.pseudo_label import ConfidentPseudoLabelLoss, class_centroids, nearest_centroid, shot_pseudo_labels

__all__ = [
    "CORALLoss", "ConditionalDomainAdversarialLoss", "ConfidentPseudoLabelLoss", "DomainAdversarialLoss",
    "EntropyLoss", "GradientReversal", "InformationMaximizationLoss", "JointMMD", "MarginDisparityDiscrepancy",
    "MinimumClassConfusionLoss",
    "MultiKernelMMD", "MultilinearMap", "class_confusion", "covariance", "entropy", "grad_reverse",
    "mmd_from_kernel", "multi_gaussian_kernel", "multilinear_map", "progressive_coeff", "reversal_coeff",
    "warm_start_coeff", "class_centroids",
    "nearest_centroid", "shot_pseudo_labels",
]
