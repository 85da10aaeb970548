"""How good are a trained run's CDTrans pseudo-labels and pairs? A diagnostic that READS TARGET LABELS.

CDTrans learns the target only from its pseudo-labels (nearest class centre of the target features) and
from pairs kept where a source label equals a target pseudo-label, so their accuracy bounds what it can
reach. On the run's labeled held-out sets (source validation as the source set, target test as the
target set; the training sets' target labels are not kept), this prints the target accuracy of the
head, the accuracy of the centroid pseudo-labels, and for the two-way partners of
:func:`dasuite.methods.cdtrans.two_way_partners` the share of items that get one and the share of
those pairs whose two images truly share the class. Any method's run works (the features are those the
head sees), e.g. to compare the pseudo-labels DANN's features would give.

    python scripts/pair_quality.py RUN_DIR [last|best]
"""

from __future__ import annotations

import argparse

import torch

from dasuite.engine.sampler import gather
from dasuite.losses import class_centroids, nearest_centroid
from dasuite.methods.cdtrans import two_way_partners
from dasuite.assembly.pair import build_pair
from dasuite.assembly.trained import load_trained


@torch.inference_mode()
def outputs(model, x, batch_size: int = 256) -> tuple[torch.Tensor, torch.Tensor]:
    """Features (those the head sees) and class probabilities of a set's raw inputs ``x`` (in memory or on disk),
    on the CPU."""
    features = [model.method.features(model.prepare(gather(x, torch.arange(i, min(i + batch_size, len(x)))))).flatten(1)
                for i in range(0, len(x), batch_size)]
    features = torch.cat(features)
    return features, model.method.head(features).softmax(1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dir")
    parser.add_argument("checkpoint", nargs="?", default="last", choices=("last", "best"))
    args = parser.parse_args()
    model = load_trained(args.run_dir, args.checkpoint)
    pair = build_pair(model.config.dataset)
    source_features, _ = outputs(model, pair.source_val.x)
    target_features, target_probabilities = outputs(model, pair.target_test.x)
    ys, yt = pair.source_val.y, pair.target_test.y
    pseudo = nearest_centroid(target_features, class_centroids(target_features, target_probabilities))
    of_source, of_target = two_way_partners(source_features, ys, target_features, pseudo)
    with_t, with_s = of_target >= 0, of_source >= 0

    def share(mask: torch.Tensor) -> str:
        return f"{mask.float().mean():.3f}"

    print(f"{args.run_dir} ({args.checkpoint}): target accuracy {share(target_probabilities.argmax(1) == yt)}, "
          f"centroid pseudo-labels {share(pseudo == yt)}")
    print(f"targets with a partner {share(with_t)}, those pairs of one class "
          f"{share(ys[of_target[with_t]] == yt[with_t])}; sources with a partner {share(with_s)}, those pairs of one "
          f"class {share(ys[with_s] == yt[of_source[with_s]])}")

if __name__ == "__main__":
    main()
