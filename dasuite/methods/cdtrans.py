"""CDTrans: cross-domain transformer (Xu et al., "CDTrans: Cross-domain Transformer for Unsupervised Domain
Adaptation", ICLR 2022; official code github.com/CDTrans/CDTrans). Vision-transformer backbones only.

One ViT, its weights shared by three branches: source self-attention, target self-attention, and a
source-target branch in which every block's attention takes its queries from the source image and its keys
and values from the paired target image, on a residual stream that starts from the target's tokens (the
official ``Block_3_branches`` in model/backbones/vit_pytorch_uda.py). For pairs (s, t) with logits z_s, z_t,
z_st of the three branches and ŷ_t the target's pseudo-label, the official code's current version
(processor/processor_uda.py ``do_train_uda`` after commit 8ee48d0, "fix the loss mistake", 2022-04-06):

    L = CE(z_s, y_s) + pseudo_weight · CE(z_t, ŷ_t) + distill_weight · H(softmax(z_st), softmax(z_t))

H(p, q) = −Σ p log q is the official ``distill_loss`` (:func:`soft_cross_entropy`), without a stop-gradient:
the source-target branch teaches the target branch and also receives the term's gradient. ``loss_version=
initial`` is the first release's (commit 392c3db): the roles of z_t and z_st swapped, CE(z_st, ŷ_t) +
H(softmax(z_t), softmax(z_st)). The target branch alone predicts: :meth:`predict` is the plain ViT and never
sees a source image.

Pairs: two-way centre-aware pseudo-labelling over the whole training sets (:func:`two_way_partners`,
processor_uda.py ``update_feat``, ``compute_knn_idx``, ``generate_new_dataset``): each target with its most
similar source and each source with its most similar target (cosine similarity of the features the head sees,
over every image of both sets), kept when the source's label equals the target's pseudo-label, the nearest of
SHOT-style class centres of the whole target set (``obtain_label``). They are rebuilt from the current model
every ``pair_interval`` adaptation epochs (``update_epoch = 10`` there) and kept in checkpoints. A step
completes its batch with the partners (:meth:`Batch.fetch`, by the positions ``batch["source"].index`` and
``batch["target"].index``): (partner source, batch target) for each target of the batch with a partner and
(batch source, partner target) for each source with one; the pair's label is its source's label, which is the
target's pseudo-label by construction. The source CE is on the batch's sources. Each step logs its number of
pairs (``train/pairs``); one with fewer than two has no cross branch and trains on its sources alone. Where the
official code iterates a dataset of the pairs, this iterates source and target batches and completes each item
with its partner.

Stages: ``source``, the ViT on labeled source with label smoothing (configs/pretrain.yml); ``adapt``, the
three branches on source + target (configs/uda.yml, no label smoothing).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from dasuite.errors import ConfigError, check_number
from dasuite.losses import class_centroids, nearest_centroid
from dasuite.methods.base import MAIN, Batch, Draw, Method, Stage, StepContext, check_epochs
from dasuite.models.tokens import transformer_parts


#: Most similarities :func:`two_way_partners` holds at once (float32: 128 MiB), whatever the sets' sizes.
SIMILARITY_BLOCK = 2 ** 25


def two_way_partners(source_features: torch.Tensor, source_labels: torch.Tensor, target_features: torch.Tensor,
                     target_pseudo_labels: torch.Tensor, block: int = SIMILARITY_BLOCK
                     ) -> tuple[torch.Tensor, torch.Tensor]:
    """CDTrans' two-way centre-aware partners over whole sets: ``(partner_of_source, partner_of_target)``.

    ``partner_of_target[j]`` is the source most cosine-similar to target j, or -1 when its label differs from
    target j's pseudo-label; ``partner_of_source[i]`` is the target most similar to source i, or -1 when that
    target's pseudo-label differs from source i's label. The similarities are computed for runs of sources
    against every target, at most ``block`` of them at a time (never the whole n_source × n_target matrix:
    VisDA-2017 has 152k × 55k); a tie goes to the lower index, as one argmax over the whole matrix.
    """
    s = F.normalize(source_features.flatten(1).float(), dim=1)
    t = F.normalize(target_features.flatten(1).float(), dim=1)
    labels, pseudo = source_labels.to(s.device), target_pseudo_labels.to(s.device)
    n_source, n_target = len(s), len(t)
    if n_source == 0 or n_target == 0:
        return labels.new_full((n_source,), -1, dtype=torch.long), labels.new_full((n_target,), -1, dtype=torch.long)
    rows = max(1, block // n_target)
    nearest_target = torch.empty(n_source, dtype=torch.long, device=s.device)
    nearest_source = torch.zeros(n_target, dtype=torch.long, device=s.device)
    best = torch.full((n_target,), -torch.inf, device=s.device)
    for start in range(0, n_source, rows):
        similarity = s[start: start + rows] @ t.T
        nearest_target[start: start + rows] = similarity.argmax(1)
        arg = similarity.argmax(0)
        value = similarity.gather(0, arg[None])[0]
        better = value > best  # strictly: a tie keeps the earlier source
        best = torch.where(better, value, best)
        nearest_source = torch.where(better, arg + start, nearest_source)
    partner_of_target = torch.where(labels[nearest_source] == pseudo, nearest_source, -1)
    partner_of_source = torch.where(pseudo[nearest_target] == labels, nearest_target, -1)
    return partner_of_source, partner_of_target


#: ``method.loss_version``: which branch learns the pseudo-labels and is the distillation's student.
LOSS_VERSIONS = {"fixed": "the target branch (official code since 8ee48d0, 2022-04)",
                 "initial": "the source-target branch (the first release, 392c3db)"}


def soft_cross_entropy(student_logits: torch.Tensor, teacher_logits: torch.Tensor) -> torch.Tensor:
    """H(softmax(teacher), softmax(student)) = −Σ_c softmax(teacher)_c · log softmax(student)_c, averaged over the
    rows: the official ``distill_loss``. Nothing is detached, so the teacher receives a gradient too."""
    return -(teacher_logits.softmax(1) * student_logits.log_softmax(1)).sum(1).mean()


class CDTrans(Method):
    """Source warm start, then source, target and source-target branches of one ViT on centre-aware pairs."""

    def __init__(self, backbone, num_classes: int, source_epochs: int | None = None, pair_interval: int = 10,
                 pseudo_weight: float = 1.0, distill_weight: float = 1.0, adapt_lr_mult: float = 1.0,
                 loss_version: str = "fixed", label_smoothing: float = 0.1):
        super().__init__(backbone, num_classes, label_smoothing)
        transformer_parts(backbone, "method=cdtrans")  # a clear error now for a backbone that is no ViT
        self.source_epochs = check_epochs("source_epochs", source_epochs)
        if isinstance(pair_interval, bool) or not isinstance(pair_interval, int) or pair_interval < 1:
            raise ConfigError(f"method.pair_interval={pair_interval!r} must be an integer >= 1 (adaptation epochs "
                              "between two rebuilds of the pairs over the whole source and target sets).")
        self.pair_interval = pair_interval
        if loss_version not in LOSS_VERSIONS:
            raise ConfigError(f"method.loss_version={loss_version!r} is not one of "
                              + "; ".join(f"{k} ({v} learns the pseudo-labels)" for k, v in LOSS_VERSIONS.items())
                              + ".")
        self.loss_version = loss_version
        self.pseudo_weight = check_number("method.pseudo_weight", pseudo_weight, minimum=0)
        self.distill_weight = check_number("method.distill_weight", distill_weight, minimum=0)
        self.adapt_lr_mult = check_number("method.adapt_lr_mult", adapt_lr_mult, minimum=0)
        # the pairs (two_way_partners over the whole sets), the target pseudo-labels and the epoch they come from
        self.partner_of_source: torch.Tensor | None = None
        self.partner_of_target: torch.Tensor | None = None
        self.pseudo_labels: torch.Tensor | None = None
        self.pairs_epoch: int | None = None

    def stages(self) -> list[Stage]:
        return [Stage("source", draws=("source",), epochs=self.source_epochs), Stage("adapt")]

    def param_groups(self, stage: Stage):
        if stage.name == "source":
            return super().param_groups(stage)
        return {MAIN: [{"params": list(self.parameters()), "lr_mult": self.adapt_lr_mult}]}

    def begin_epoch(self, stage: Stage, epoch: int, inputs) -> None:
        """The pairs over the whole sets from the current model, every ``pair_interval`` adaptation epochs:
        features of every source and target image, the targets' pseudo-labels (nearest class centre), and
        each image's partner in the other set (:func:`two_way_partners`)."""
        if stage.name != "adapt" or (self.pairs_epoch is not None and epoch - self.pairs_epoch < self.pair_interval):
            return
        source_features, _ = self.outputs_on(inputs, "source")
        target_features, target_probabilities = self.outputs_on(inputs, "target")
        source_labels = torch.cat(list(inputs("source", labels=True))).to(source_features.device)
        self.pseudo_labels = nearest_centroid(target_features,
                                              class_centroids(target_features, target_probabilities))
        self.partner_of_source, self.partner_of_target = two_way_partners(
            source_features, source_labels, target_features, self.pseudo_labels)
        self.pairs_epoch = epoch

    def branches(self, images: torch.Tensor, pair_source: torch.Tensor,
                 pair_target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """One pass of the three branches: the self-attention logits of every image (the source branch on
        source images, the target branch on target images: one network), and the source-target logits of
        the pairs (``pair_source[k]``, ``pair_target[k]``: rows of ``images``), None with fewer than two."""
        parts = transformer_parts(self.backbone, "method=cdtrans")
        h = parts.tokens(images)
        layer_inputs = []
        for block in parts.blocks:
            layer_inputs.append(h)
            h = parts.run(block, h)
        logits = self.head(parts.features(h))
        if len(pair_source) < 2:  # a bottleneck's BatchNorm needs two samples: no cross branch this step
            return logits, None
        fusion = layer_inputs[0][pair_target]
        for block, x in zip(parts.blocks, layer_inputs):
            fusion = parts.run(block, x[pair_source], context=x[pair_target], residual=fusion)
        return logits, self.head(parts.features(fusion))

    def _partners(self, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        """The partner arrays on ``device`` (a checkpoint restores them where it was loaded)."""
        if self.partner_of_source is None or self.partner_of_target is None:
            raise RuntimeError("CDTrans has no pairs: begin_epoch builds them at the start of its adapt stage "
                               "(a checkpoint of this method from before they were kept cannot resume mid-epoch).")
        if self.partner_of_source.device != device:
            self.partner_of_source = self.partner_of_source.to(device)
            self.partner_of_target = self.partner_of_target.to(device)
        return self.partner_of_source, self.partner_of_target

    def pairs(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """The step's images (the batch's sources, its targets that have a partner, then the partner sources and
        targets fetched from the whole sets), the pairs as rows of them (source rows, target rows) and each pair's
        label (its source's). A target of the batch without a partner has no term: it is left out."""
        source, target = batch["source"], batch["target"]
        if source.index is None or target.index is None:
            raise RuntimeError("CDTrans completes each batch item with its partner in the other set: it needs the "
                               "positions of the batch's items (batch['source'].index, batch['target'].index), "
                               "which the trainer provides.")
        partner_of_source, partner_of_target = self._partners(target.index.device)
        partner_t, partner_s = partner_of_target[target.index], partner_of_source[source.index]
        t_rows, s_rows = (partner_t >= 0).nonzero().flatten(), (partner_s >= 0).nonzero().flatten()
        # nothing to fetch (no partner of that side in the batch): empty parts as the batch's, no read
        sources = batch.fetch("source", partner_t[t_rows]) if len(t_rows) else Draw(source.x[:0], source.y[:0])
        xt_fetched = batch.fetch("target", partner_s[s_rows]).x if len(s_rows) else target.x[:0]
        n_s, n_t, n_fs = len(source), len(t_rows), len(sources)
        images = torch.cat([source.x, target.x[t_rows], sources.x, xt_fetched])
        rows = torch.arange(len(images), device=images.device)
        pair_source = torch.cat([rows[n_s + n_t: n_s + n_t + n_fs], s_rows])
        pair_target = torch.cat([rows[n_s: n_s + n_t], rows[n_s + n_t + n_fs:]])
        labels = torch.cat([sources.y, source.y[s_rows]])
        return images, pair_source, pair_target, labels

    def training_step(self, batch: Batch, ctx: StepContext):
        if ctx.stage == "source":
            return {"cls": self.classification_loss(self.predict(batch.xs), batch.ys)}
        images, pair_source, pair_target, labels = self.pairs(batch)
        ctx.log("pairs", len(labels))
        logits, fusion = self.branches(images, pair_source, pair_target)
        terms = {"cls": F.cross_entropy(logits[: len(batch.xs)], batch.ys)}
        if fusion is None:  # fewer than two pairs: the step trains on its sources alone
            return terms
        target = logits[pair_target]
        # the branch that learns the pseudo-labels is the distillation's student, the other its teacher
        student, teacher = (target, fusion) if self.loss_version == "fixed" else (fusion, target)
        terms["pseudo"] = self.pseudo_weight * F.cross_entropy(student, labels)
        terms["distill"] = self.distill_weight * soft_cross_entropy(student, teacher)
        return terms

    def get_extra_state(self) -> dict:
        """The pairs, the pseudo-labels and the epoch they come from go into checkpoints (a resumed run keeps
        them, mid-epoch too)."""
        return {"partner_of_source": self.partner_of_source, "partner_of_target": self.partner_of_target,
                "pseudo_labels": self.pseudo_labels, "pairs_epoch": self.pairs_epoch}

    def set_extra_state(self, state: dict) -> None:
        self.partner_of_source, self.partner_of_target = state.get("partner_of_source"), state.get("partner_of_target")
        self.pseudo_labels, self.pairs_epoch = state.get("pseudo_labels"), state.get("pairs_epoch")
