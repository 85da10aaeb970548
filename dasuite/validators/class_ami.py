"""``class_ami``: agreement between feature clusters and class predictions.

Musgrave et al., "Three New Validators and a Large-Scale Benchmark Ranking for Unsupervised Domain
Adaptation", 2022: cluster the source validation and target features together with k-means
(k = number of classes) and score the adjusted mutual information between the clusters and the
labels (source: true labels; target: predicted labels). High when the classifier's decisions follow
the structure of the features in both domains.
"""

import torch

from dasuite.validators.outputs import Outputs


def class_ami(outputs: Outputs) -> float:
    from sklearn.cluster import KMeans
    from sklearn.metrics import adjusted_mutual_info_score

    features = torch.cat([outputs.source_features, outputs.target_features]).numpy()
    labels = torch.cat([outputs.source_labels, outputs.target_logits.argmax(1)]).numpy()
    clusters = KMeans(outputs.num_classes, n_init=1, random_state=outputs.seed).fit_predict(features)
    return float(adjusted_mutual_info_score(labels, clusters))
