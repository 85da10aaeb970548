"""CDTrans: cross-domain transformer (Xu et al., "CDTrans: Cross-domain Transformer for Unsupervised Domain
Adaptation", ICLR 2022; official code github.com/CDTrans/CDTrans). Vision-transformer backbones only.

One ViT, its weights shared by three branches: source self-attention, target self-attention, and a
source-target branch in which every block's attention takes its queries from the source image and its keys
and values from the paired target image, on a residual stream that starts from the target's tokens (the
official ``Block_3_branches`` in model/backbones/vit_pytorch_uda.py). For pairs (s, t) with logits z_s, z_t,
z_st of the three branches:

    L = CE(z_s, y_s) + cross_weight · CE(z_st, ŷ_t) + distill_weight · KL(softmax(z_st) ‖ softmax(z_t))

ŷ_t the target's pseudo-label; the source-target prediction is the teacher (no gradient through it) of the
target branch, which alone predicts: :meth:`predict` is the plain ViT and never sees a source image.

Pairs: two-way centre-aware pseudo-labelling (:func:`two_way_pairs`): each target with its most similar
source and each source with its most similar target (cosine similarity of the features), kept when the
source label equals the target's pseudo-label, the nearest of SHOT-style class centres of the whole target
set (processor_uda.py ``obtain_label``), rebuilt from the current model every ``pair_interval``
adaptation epochs (``update_epoch = 10`` there). The Method interface hands a method batches, not the
sampler, so pairs are drawn among each step's source and target batch, not over the whole sets.

Stages: ``source``, the ViT on labeled source with label smoothing (configs/pretrain.yml); ``adapt``, the
three branches on source + target (configs/uda.yml, no label smoothing).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from dasuite.errors import ConfigError, check_number
from dasuite.losses import class_centroids, nearest_centroid
from dasuite.methods.base import MAIN, Batch, Method, Stage, StepContext, check_epochs
from dasuite.models.tokens import transformer_parts


def two_way_pairs(source_features: torch.Tensor, source_labels: torch.Tensor, target_features: torch.Tensor,
                  target_pseudo_labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(source index, target index) of CDTrans' centre-aware pairs, each pair once, sorted.

    Candidates: every target with its nearest source and every source with its nearest target by cosine
    similarity; kept when the source's label equals the target's pseudo-label.
    """
    similarity = F.normalize(source_features.flatten(1), dim=1) @ F.normalize(target_features.flatten(1), dim=1).T
    n_source, n_target = similarity.shape
    device = similarity.device
    sources = torch.cat([similarity.argmax(0), torch.arange(n_source, device=device)])
    targets = torch.cat([torch.arange(n_target, device=device), similarity.argmax(1)])
    keep = source_labels[sources] == target_pseudo_labels[targets]
    pairs = torch.unique(torch.stack([sources[keep], targets[keep]]), dim=1)
    return pairs[0], pairs[1]


def distillation_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor) -> torch.Tensor:
    """KL(softmax(teacher) ‖ softmax(student)), averaged over the batch; the teacher gets no gradient."""
    return F.kl_div(student_logits.log_softmax(1), teacher_logits.detach().softmax(1), reduction="batchmean")


class CDTrans(Method):
    """Source warm start, then source, target and source-target branches of one ViT on centre-aware pairs."""

    def __init__(self, backbone, num_classes: int, source_epochs: int | None = None, pair_interval: int = 10,
                 cross_weight: float = 1.0, distill_weight: float = 1.0, adapt_lr_mult: float = 1.0,
                 label_smoothing: float = 0.1):
        super().__init__(backbone, num_classes, label_smoothing)
        transformer_parts(backbone, "method=cdtrans")  # a clear error now for a backbone that is no ViT
        self.source_epochs = check_epochs("source_epochs", source_epochs)
        if isinstance(pair_interval, bool) or not isinstance(pair_interval, int) or pair_interval < 1:
            raise ConfigError(f"method.pair_interval={pair_interval!r} must be an integer >= 1 (adaptation epochs "
                              "between two rebuilds of the target pseudo-labels' class centres).")
        self.pair_interval = pair_interval
        self.cross_weight = check_number("method.cross_weight", cross_weight, minimum=0)
        self.distill_weight = check_number("method.distill_weight", distill_weight, minimum=0)
        self.adapt_lr_mult = check_number("method.adapt_lr_mult", adapt_lr_mult, minimum=0)
        self.centroids: torch.Tensor | None = None
        self.centroids_epoch: int | None = None

    def stages(self) -> list[Stage]:
        return [Stage("source", draws=("source",), epochs=self.source_epochs), Stage("adapt")]

    def param_groups(self, stage: Stage):
        if stage.name == "source":
            return super().param_groups(stage)
        return {MAIN: [{"params": list(self.parameters()), "lr_mult": self.adapt_lr_mult}]}

    def begin_epoch(self, stage: Stage, epoch: int, inputs) -> None:
        """Class centres of the target set from the current model, every ``pair_interval`` adaptation epochs."""
        if stage.name != "adapt" or (self.centroids_epoch is not None
                                     and epoch - self.centroids_epoch < self.pair_interval):
            return
        self.centroids = class_centroids(*self.outputs_on(inputs, "target"))
        self.centroids_epoch = epoch

    def branches(self, xs: torch.Tensor, ys: torch.Tensor, xt: torch.Tensor) -> dict[str, torch.Tensor]:
        """One pass of the three branches: ``source`` and ``target`` logits of every image, the pairs
        (``pair_source``, ``pair_target``: indices), the paired targets' ``pseudo`` labels and the
        ``source_target`` logits of each pair (empty without pairs)."""
        parts = transformer_parts(self.backbone, "method=cdtrans")
        n = len(xs)
        h = parts.tokens(torch.cat([xs, xt]))
        layer_inputs = []
        for block in parts.blocks:
            layer_inputs.append(h)
            h = parts.run(block, h)
        features = parts.features(h)
        f_s, f_t = features[:n], features[n:]
        with torch.no_grad():
            pseudo = nearest_centroid(f_t, self.centroids.to(f_t.device))
            pair_source, pair_target = two_way_pairs(f_s, ys, f_t, pseudo)
        out = {"source": self.head(f_s), "target": self.head(f_t), "pair_source": pair_source,
               "pair_target": pair_target, "pseudo": pseudo[pair_target]}
        if len(pair_source) < 2:  # a bottleneck's BatchNorm needs two samples: no cross branch this step
            out["source_target"] = f_t.new_zeros(0, out["target"].shape[1])
            return out
        fusion = layer_inputs[0][n:][pair_target]
        for block, x in zip(parts.blocks, layer_inputs):
            fusion = parts.run(block, x[:n][pair_source], context=x[n:][pair_target], residual=fusion)
        out["source_target"] = self.head(parts.features(fusion))
        return out

    def training_step(self, batch: Batch, ctx: StepContext):
        if ctx.stage == "source":
            return {"cls": self.classification_loss(self.predict(batch.xs), batch.ys)}
        out = self.branches(batch.xs, batch.ys, batch.xt)
        terms = {"cls": F.cross_entropy(out["source"], batch.ys)}
        teacher = out["source_target"]
        if len(teacher) == 0:
            zero = out["source"].new_zeros(())
            return {**terms, "cross": zero, "distill": zero}
        student = out["target"][out["pair_target"]]
        terms["cross"] = self.cross_weight * F.cross_entropy(teacher, out["pseudo"])
        terms["distill"] = self.distill_weight * distillation_loss(student, teacher)
        return terms

    def get_extra_state(self) -> dict:
        """The class centres and the epoch they come from go into checkpoints (a resumed run keeps them)."""
        return {"centroids": self.centroids, "centroids_epoch": self.centroids_epoch}

    def set_extra_state(self, state: dict) -> None:
        self.centroids, self.centroids_epoch = state["centroids"], state["centroids_epoch"]
