"""The forms a backbone's bottleneck takes: which layers follow its Linear map.

``backbone.bottleneck_dim`` sets whether a backbone has a bottleneck and how wide it is; the form is the
method's choice (``method.bottleneck``), because Transfer-Learning-Library's methods differ in it
(thuml/Transfer-Learning-Library at c4aa59eb, each method's ``ImageClassifier``):

| form | layers | TLL |
| --- | --- | --- |
| ``bn`` | Linear → BatchNorm → ReLU | ``tllib/alignment/dann.py``, ``cdan.py``, ``tllib/self_training/mcc.py`` |
| ``dropout`` | Linear → ReLU → Dropout(0.5) | ``tllib/alignment/dan.py`` |
| ``bn_dropout`` | Linear → BatchNorm → ReLU → Dropout(0.5) | ``tllib/alignment/jan.py``, ``mdd.py`` |

Every backbone builds the ``bn`` form; :func:`use_bottleneck_form` gives a built backbone another form of
the same widths, and leaves a backbone without a bottleneck as it is.
"""

from __future__ import annotations

from torch import nn

from dasuite.errors import ConfigError

#: form -> the layers after the Linear map of ``dim`` features
FORMS = {
    "bn": lambda dim: [nn.BatchNorm1d(dim), nn.ReLU()],
    "dropout": lambda dim: [nn.ReLU(), nn.Dropout(0.5)],
    "bn_dropout": lambda dim: [nn.BatchNorm1d(dim), nn.ReLU(), nn.Dropout(0.5)],
}


def check_form(form: str, key: str = "method.bottleneck") -> str:
    """``form`` when it names a form of :data:`FORMS`, else a ConfigError naming the choices."""
    if form not in FORMS:
        raise ConfigError(f"{key}={form!r} is not a bottleneck form; choose one of {', '.join(FORMS)} (bn: "
                          "Linear-BN-ReLU; dropout: Linear-ReLU-Dropout(0.5); bn_dropout: the two together).")
    return form


def bottleneck_of_form(form: str, in_features: int, dim: int) -> nn.Sequential:
    """A Linear map from ``in_features`` to ``dim`` features, followed by the layers of ``form``."""
    return nn.Sequential(nn.Linear(in_features, dim), *FORMS[check_form(form)](dim))


def use_bottleneck_form(backbone: nn.Module, form: str, key: str = "method.bottleneck") -> None:
    """Give ``backbone``'s bottleneck (its ``bottleneck`` attribute, whose first layer is the Linear map) the
    layers of ``form``: rebuilt, newly initialised, with the same widths unless it already has that form."""
    check_form(form, key)
    current = getattr(backbone, "bottleneck", None)
    if current is None:
        return
    linear = current[0]
    if [type(m) for m in current[1:]] != [type(m) for m in FORMS[form](linear.out_features)]:
        backbone.bottleneck = bottleneck_of_form(form, linear.in_features, linear.out_features)
