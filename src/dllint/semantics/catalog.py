"""What dllint knows about the PyTorch API: every layer, functional op and tensor method the
rules reason about, by canonical qualified name, with the role it plays in a network.

Canonical names are the public ones (``torch.nn.Conv2d``, ``torch.nn.functional.relu``);
:func:`canonical` maps implementation paths (``torch.nn.modules.conv.Conv2d``) onto them.
"""

from __future__ import annotations

import sys
from typing import Optional


class Op:
    """The role of a layer class or a function.

    kind: affine | recurrent | norm | dropout | activation | pool | reshape | identity | pad |
          attention | container | loss | other
    family: a finer name inside the kind (``sigmoid``, ``relu``, ``batch``, ``cross_entropy`` …)
    dims: the ``1d``/``2d``/``3d`` dimensionality of the tensors a layer works on: the spatial
          dimensionality of conv / norm / pool layers, and 1 for ``Linear``, whose features are
          on the last axis and whose input is usually ``(N, features)`` (the 2-D input
          ``BatchNorm1d`` takes, which ``BatchNorm2d``/``3d`` reject); None when it has none
    params: the constructor's (or function's) positional parameter names, in order
    """

    __slots__ = ("kind", "family", "dims", "params")

    def __init__(self, kind: str, family: str, dims: Optional[int] = None, params: tuple[str, ...] = ()) -> None:
        self.kind = kind
        self.family = family
        self.dims = dims
        self.params = params

    def __repr__(self) -> str:
        return f"Op({self.kind!r}, {self.family!r}, {self.dims!r})"

    @property
    def spatial_dims(self) -> Optional[int]:
        """How many spatial axes follow ``(N, C)`` in the tensors it works on: ``dims``, or 0 for
        a ``Linear`` (which applies to the last axis of an input of any rank)."""
        if self.dims is None:
            return None
        return 0 if self.family == "linear" else self.dims

    @property
    def trainable(self) -> bool:
        """A layer with a weight matrix: what activations sit between in a deep stack."""
        return self.kind in ("affine", "recurrent")

    @property
    def saturating(self) -> bool:
        return self.kind == "activation" and self.family in ("sigmoid", "tanh")

    @property
    def nonlinear(self) -> bool:
        return self.kind in ("activation", "pool", "attention", "recurrent") or (
            self.kind == "other" and self.family == "nonlinear"
        )


_CONV_PARAMS = ("in_channels", "out_channels", "kernel_size", "stride", "padding", "dilation", "groups", "bias", "padding_mode")
_CONVT_PARAMS = (
    "in_channels", "out_channels", "kernel_size", "stride", "padding", "output_padding", "groups", "bias", "dilation",
)
_RNN_PARAMS = ("input_size", "hidden_size", "num_layers")
_BN_PARAMS = ("num_features", "eps", "momentum", "affine", "track_running_stats")
_DROPOUT_PARAMS = ("p", "inplace")
_SOFTMAX_PARAMS = ("dim",)
_POOL_PARAMS = ("kernel_size", "stride", "padding")

LAYERS: dict[str, Op] = {}


def _layer(name: str, op: Op) -> None:
    LAYERS[f"torch.nn.{name}"] = op


for _d in (1, 2, 3):
    _layer(f"Conv{_d}d", Op("affine", "conv", _d, _CONV_PARAMS))
    _layer(f"LazyConv{_d}d", Op("affine", "conv", _d, _CONV_PARAMS[1:]))
    _layer(f"ConvTranspose{_d}d", Op("affine", "conv_transpose", _d, _CONVT_PARAMS))
    _layer(f"LazyConvTranspose{_d}d", Op("affine", "conv_transpose", _d, _CONVT_PARAMS[1:]))
    _layer(f"BatchNorm{_d}d", Op("norm", "batch", _d, _BN_PARAMS))
    _layer(f"LazyBatchNorm{_d}d", Op("norm", "batch", _d, _BN_PARAMS[1:]))
    _layer(f"InstanceNorm{_d}d", Op("norm", "instance", _d, _BN_PARAMS))
    _layer(f"LazyInstanceNorm{_d}d", Op("norm", "instance", _d, _BN_PARAMS[1:]))
    _layer(f"Dropout{_d}d", Op("dropout", "dropout", _d, _DROPOUT_PARAMS))
    for _pool in ("MaxPool", "AvgPool", "LPPool", "FractionalMaxPool"):
        _layer(f"{_pool}{_d}d", Op("pool", _pool.lower(), _d, _POOL_PARAMS))
    for _pool in ("AdaptiveAvgPool", "AdaptiveMaxPool"):
        _layer(f"{_pool}{_d}d", Op("pool", "adaptive", _d, ("output_size",)))
    for _pad in ("ZeroPad", "ConstantPad", "ReflectionPad", "ReplicationPad", "CircularPad"):
        _layer(f"{_pad}{_d}d", Op("pad", _pad.lower(), _d, ("padding",)))
    _layer(f"MaxUnpool{_d}d", Op("other", "unpool", _d))

_layer("Linear", Op("affine", "linear", 1, ("in_features", "out_features", "bias")))
_layer("LazyLinear", Op("affine", "linear", 1, ("out_features", "bias")))
_layer("Bilinear", Op("affine", "bilinear", None, ("in1_features", "in2_features", "out_features", "bias")))
_layer("Embedding", Op("affine", "embedding", None, ("num_embeddings", "embedding_dim", "padding_idx")))
_layer("EmbeddingBag", Op("affine", "embedding", None, ("num_embeddings", "embedding_dim")))
for _rnn in ("RNN", "LSTM", "GRU"):
    _layer(_rnn, Op("recurrent", _rnn.lower(), None, _RNN_PARAMS))
    _layer(f"{_rnn}Cell", Op("recurrent", f"{_rnn.lower()}_cell", None, ("input_size", "hidden_size", "bias")))
_layer("SyncBatchNorm", Op("norm", "batch", None, _BN_PARAMS))
_layer("LayerNorm", Op("norm", "layer", None, ("normalized_shape", "eps", "elementwise_affine")))
_layer("GroupNorm", Op("norm", "group", None, ("num_groups", "num_channels", "eps", "affine")))
_layer("RMSNorm", Op("norm", "rms", None, ("normalized_shape", "eps")))
_layer("LocalResponseNorm", Op("norm", "local_response", None, ("size",)))
_layer("Dropout", Op("dropout", "dropout", None, _DROPOUT_PARAMS))
_layer("AlphaDropout", Op("dropout", "alpha", None, _DROPOUT_PARAMS))
_layer("FeatureAlphaDropout", Op("dropout", "alpha", None, _DROPOUT_PARAMS))
_layer("Sigmoid", Op("activation", "sigmoid"))
_layer("Tanh", Op("activation", "tanh"))
for _relu in (
    "ReLU", "ReLU6", "LeakyReLU", "PReLU", "RReLU", "ELU", "SELU", "CELU", "GELU", "SiLU", "Mish", "Hardswish",
    "Softplus", "Threshold",
):
    _layer(_relu, Op("activation", "relu"))
for _other in ("Hardtanh", "Hardsigmoid", "LogSigmoid", "Softsign", "Tanhshrink", "Softshrink", "Hardshrink"):
    _layer(_other, Op("activation", "other"))
_layer("GLU", Op("activation", "gate"))
_layer("Softmax", Op("activation", "softmax", None, _SOFTMAX_PARAMS))
_layer("Softmin", Op("activation", "softmin", None, _SOFTMAX_PARAMS))
_layer("Softmax2d", Op("activation", "softmax"))
_layer("LogSoftmax", Op("activation", "log_softmax", None, _SOFTMAX_PARAMS))
_layer("Flatten", Op("reshape", "flatten"))
_layer("Unflatten", Op("reshape", "unflatten"))
_layer("Identity", Op("identity", "identity"))
_layer("Upsample", Op("other", "upsample"))
_layer("UpsamplingNearest2d", Op("other", "upsample"))
_layer("UpsamplingBilinear2d", Op("other", "upsample"))
_layer("PixelShuffle", Op("reshape", "pixel_shuffle"))
_layer("PixelUnshuffle", Op("reshape", "pixel_shuffle"))
_layer("ChannelShuffle", Op("reshape", "channel_shuffle"))
_layer("MultiheadAttention", Op("attention", "multihead", None, ("embed_dim", "num_heads")))
for _t in ("Transformer", "TransformerEncoder", "TransformerDecoder", "TransformerEncoderLayer", "TransformerDecoderLayer"):
    _layer(_t, Op("attention", "transformer"))
_layer("Sequential", Op("container", "sequential"))
_layer("ModuleList", Op("container", "module_list"))
_layer("ModuleDict", Op("container", "module_dict"))
_layer("Module", Op("container", "module"))
for _loss, _family in (
    ("CrossEntropyLoss", "cross_entropy"),
    ("NLLLoss", "nll"),
    ("BCELoss", "bce"),
    ("BCEWithLogitsLoss", "bce_with_logits"),
    ("MSELoss", "other"),
    ("L1Loss", "other"),
    ("SmoothL1Loss", "other"),
    ("HuberLoss", "other"),
    ("KLDivLoss", "kl_div"),
    ("CTCLoss", "other"),
    ("MarginRankingLoss", "other"),
    ("HingeEmbeddingLoss", "other"),
    ("MultiLabelSoftMarginLoss", "other"),
    ("CosineEmbeddingLoss", "other"),
    ("TripletMarginLoss", "other"),
    ("PoissonNLLLoss", "other"),
    ("GaussianNLLLoss", "other"),
):
    _layer(_loss, Op("loss", _family))

_F = "torch.nn.functional."
FUNCTIONS: dict[str, Op] = {}


def _function(names: tuple[str, ...], op: Op) -> None:
    for name in names:
        FUNCTIONS[name] = op


_function(("torch.sigmoid", "torch.special.expit", _F + "sigmoid"), Op("activation", "sigmoid"))
_function(("torch.tanh", _F + "tanh"), Op("activation", "tanh"))
_function(
    tuple(
        prefix + name
        for prefix in ("torch.", _F)
        for name in ("relu", "relu_", "selu", "celu", "rrelu", "prelu")
    )
    + tuple(
        _F + name
        for name in ("relu6", "leaky_relu", "leaky_relu_", "elu", "elu_", "gelu", "silu", "mish", "hardswish", "softplus", "threshold")
    ),
    Op("activation", "relu"),
)
_function(("torch.softmax", _F + "softmax", "torch.special.softmax"), Op("activation", "softmax", None, ("input", "dim")))
_function(("torch.log_softmax", _F + "log_softmax", "torch.special.log_softmax"), Op("activation", "log_softmax", None, ("input", "dim")))
_function((_F + "softmin",), Op("activation", "softmin", None, ("input", "dim")))
_function((_F + "glu",), Op("activation", "gate"))
_function(
    (_F + "dropout", _F + "dropout1d", _F + "dropout2d", _F + "dropout3d", _F + "alpha_dropout", _F + "feature_alpha_dropout"),
    Op("dropout", "dropout", None, ("input", "p", "training", "inplace")),
)
_function(("torch.dropout", "torch.alpha_dropout", "torch.feature_dropout"), Op("dropout", "dropout", None, ("input", "p", "train")))
_function((_F + "linear",), Op("affine", "linear", None, ("input", "weight", "bias")))
for _d in (1, 2, 3):
    _function((_F + f"conv{_d}d", f"torch.conv{_d}d"), Op("affine", "conv", _d, ("input", "weight", "bias", "stride", "padding", "dilation", "groups")))
    _function((_F + f"conv_transpose{_d}d",), Op("affine", "conv_transpose", _d))
    for _pool in ("max_pool", "avg_pool", "adaptive_avg_pool", "adaptive_max_pool"):
        _function((_F + f"{_pool}{_d}d", f"torch.{_pool}{_d}d"), Op("pool", _pool, _d))
_function((_F + "batch_norm", "torch.batch_norm"), Op("norm", "batch"))
_function((_F + "layer_norm", "torch.layer_norm"), Op("norm", "layer"))
_function((_F + "group_norm", "torch.group_norm"), Op("norm", "group"))
_function((_F + "instance_norm",), Op("norm", "instance"))
_function((_F + "rms_norm",), Op("norm", "rms"))
_function((_F + "normalize",), Op("norm", "l2"))
_function((_F + "pad",), Op("pad", "pad", None, ("input", "pad")))
_function(("torch.flatten", "torch.reshape"), Op("reshape", "reshape"))
_function((_F + "interpolate", _F + "upsample"), Op("other", "upsample"))
_function((_F + "scaled_dot_product_attention",), Op("attention", "sdpa"))
_function((_F + "cross_entropy",), Op("loss", "cross_entropy", None, ("input", "target")))
_function((_F + "nll_loss",), Op("loss", "nll", None, ("input", "target")))
_function((_F + "binary_cross_entropy",), Op("loss", "bce", None, ("input", "target")))
_function((_F + "binary_cross_entropy_with_logits",), Op("loss", "bce_with_logits", None, ("input", "target")))

# Tensor methods: x.sigmoid(), x.view(...).
METHODS: dict[str, Op] = {
    "sigmoid": Op("activation", "sigmoid"),
    "sigmoid_": Op("activation", "sigmoid"),
    "tanh": Op("activation", "tanh"),
    "tanh_": Op("activation", "tanh"),
    "relu": Op("activation", "relu"),
    "relu_": Op("activation", "relu"),
    "softmax": Op("activation", "softmax", None, ("dim",)),
    "log_softmax": Op("activation", "log_softmax", None, ("dim",)),
    **{
        name: Op("reshape", "reshape")
        for name in (
            "view", "reshape", "flatten", "permute", "transpose", "contiguous", "unsqueeze", "squeeze",
            "view_as", "reshape_as", "float", "half", "double", "bfloat16", "to", "type_as", "clone", "detach",
            "movedim", "swapaxes", "mT", "t", "unflatten", "expand", "expand_as",
        )
    },
}


# Canonical spellings for names that live at several paths.
_ALIASES = {
    "torch.nn.utils.clip_grad.clip_grad_norm_": "torch.nn.utils.clip_grad_norm_",
    "torch.nn.utils.clip_grad.clip_grad_value_": "torch.nn.utils.clip_grad_value_",
    "torch.nn.modules.module.Module": "torch.nn.Module",
    "torch.nn.parameter.Parameter": "torch.nn.Parameter",
    "torch.Tensor.sigmoid": "torch.sigmoid",
    "torch.optim.adam.Adam": "torch.optim.Adam",
    "torch.optim.adamw.AdamW": "torch.optim.AdamW",
    "torch.cuda.amp.GradScaler": "torch.amp.GradScaler",
    "torch.cuda.amp.grad_scaler.GradScaler": "torch.amp.GradScaler",
    "torch.autograd.grad_mode.no_grad": "torch.no_grad",
    "torch.autograd.no_grad": "torch.no_grad",
    "torch.autograd.grad_mode.inference_mode": "torch.inference_mode",
    "torch.autograd.inference_mode": "torch.inference_mode",
    "torch.nn.init.xavier_uniform": "torch.nn.init.xavier_uniform_",
    "torch.nn.init.xavier_normal": "torch.nn.init.xavier_normal_",
    "torch.nn.init.kaiming_uniform": "torch.nn.init.kaiming_uniform_",
    "torch.nn.init.kaiming_normal": "torch.nn.init.kaiming_normal_",
    "torch.nn.init.normal": "torch.nn.init.normal_",
    "torch.nn.init.constant": "torch.nn.init.constant_",
    "torch.nn.init.uniform": "torch.nn.init.uniform_",
}


def canonical(qualified_name: str) -> str:
    """``torch.nn.modules.conv.Conv2d`` → ``torch.nn.Conv2d``; other names unchanged."""
    if qualified_name in _ALIASES:
        return _ALIASES[qualified_name]
    if qualified_name.startswith("torch.nn.modules."):
        candidate = "torch.nn." + qualified_name.rsplit(".", 1)[1]
        if candidate in LAYERS or candidate == "torch.nn.Module":
            return candidate
    return qualified_name


def layer_op(qualified_name: Optional[str]) -> Optional[Op]:
    return LAYERS.get(qualified_name) if qualified_name else None


def function_op(qualified_name: Optional[str]) -> Optional[Op]:
    return FUNCTIONS.get(qualified_name) if qualified_name else None


# Base classes (besides torch.nn.Module) whose subclasses are nn.Modules.
# Optimizers and learning-rate schedulers: their methods update parameters from gradients (or
# a learning rate); they neither train nor run a model themselves.
PARAMETER_UPDATER_BASES = frozenset(
    {
        "torch.optim.Optimizer",
        "torch.optim.optimizer.Optimizer",
        "torch.optim.lr_scheduler.LRScheduler",
        "torch.optim.lr_scheduler._LRScheduler",
    }
)

MODULE_BASES = frozenset(
    {
        "torch.nn.Module",
        "torch.nn.Sequential",
        "torch.nn.ModuleList",
        "torch.nn.ModuleDict",
        "lightning.LightningModule",
        "lightning.pytorch.LightningModule",
        "pytorch_lightning.LightningModule",
        "pytorch_lightning.core.LightningModule",
        "transformers.PreTrainedModel",
        "transformers.modeling_utils.PreTrainedModel",
    }
)


# Functions of a sequence of tensors (``torch.cat((a, b), 1)``): gradients flow into every
# tensor of the sequence.
SEQUENCE_FUNCTIONS = frozenset(
    f"torch.{name}" for name in ("cat", "concat", "concatenate", "stack", "hstack", "vstack", "dstack", "column_stack")
)


def short_name(qualified: str) -> str:
    """``nn.Conv2d`` for ``torch.nn.Conv2d``, ``F.relu`` for ``torch.nn.functional.relu``."""
    for prefix, short in (("torch.nn.functional.", "F."), ("torch.nn.init.", "nn.init."), ("torch.nn.", "nn.")):
        if qualified.startswith(prefix):
            return short + qualified[len(prefix):]
    return qualified


# torchvision's pretrained weights are enums (``ResNet50_Weights``, ``WeightsEnum``) whose members
# (``.DEFAULT``, ``.IMAGENET1K_V1``, ``get_weight("ResNet50_Weights.IMAGENET1K_V2")``) describe
# a checkpoint; none is a model. A member's ``transforms()`` builds the preprocessing preset the
# weights were trained with (``torchvision.transforms._presets.ImageClassification``,
# ``ObjectDetection``…: resize, crop, normalise): a transform with no Dropout, no BatchNorm and no
# train/eval behaviour, so calling it is no forward pass of a network.
WEIGHTS_MEMBER = "torchvision.models.WeightsEnum"
WEIGHTS_PRESET = "torchvision.transforms._presets"
_WEIGHTS_LOOKUPS = frozenset({"torchvision.models.get_weight", "torchvision.models.get_model_weights"})


def weights_call(qualified: str) -> Optional[str]:
    """What a call of a torchvision weights name gives: ``"member"`` (``get_weight(...)``,
    ``ResNet50_Weights("IMAGENET1K_V1")``, ``.verify(...)``: a weights enum or member),
    ``"preset"`` (``ResNet50_Weights.DEFAULT.transforms()``: a preprocessing transform),
    ``"other"`` (``.get_state_dict()``: no model either), or None for any other name."""
    if not qualified.startswith("torchvision.models."):
        return None
    if qualified in _WEIGHTS_LOOKUPS:
        return "member"
    parts = qualified.split(".")
    for index, part in enumerate(parts):
        if part.endswith("_Weights") or part == "WeightsEnum":
            rest = parts[index + 1:]
            if not rest or rest[-1] == "verify":
                return "member"
            return "preset" if rest[-1] == "transforms" else "other"
    return None


# Top-level packages that are never files of a project's run: the standard library and
# well-known packages (the torch ecosystem, the scientific stack, experiment tooling). A star
# import of anything else may come from the run (``from models import *``, ``from .layers import *``),
# and so may a function of such a module. (Not ``datasets``: tutorials often have a datasets.py.)
_STANDARD_LIBRARY = frozenset(getattr(sys, "stdlib_module_names", ())) | {
    "os", "sys", "re", "math", "time", "json", "random", "collections", "itertools", "functools", "pathlib", "typing",
    "argparse", "logging", "copy", "pickle", "shutil", "glob", "subprocess", "datetime", "warnings", "io", "string",
}
_LIBRARY_PACKAGES = _STANDARD_LIBRARY | frozenset({
    "torch", "torchvision", "torchaudio", "torchtext", "numpy", "scipy", "sklearn", "pandas", "matplotlib", "pylab",
    "PIL", "cv2", "tqdm", "transformers", "timm", "lightning", "pytorch_lightning", "accelerate", "tensorboard",
    "tensorboardX", "wandb", "yaml", "einops", "apex", "deepspeed", "fairscale", "diffusers", "peft", "hydra",
    "omegaconf", "skimage", "imageio", "h5py", "requests", "spacy", "nltk", "gym", "gymnasium", "seaborn", "jax",
    "tensorflow", "keras", "six", "absl", "mlflow", "comet_ml", "onnx", "onnxruntime", "ray", "optuna", "safetensors",
    "huggingface_hub", "tokenizers", "sentencepiece", "torchmetrics", "kornia", "albumentations", "visdom", "IPython",
    "sympy",
})

def is_library_module(module: str) -> bool:
    """Whether a module is surely not a file of the run (a library's)."""
    return module.split(".", 1)[0] in _LIBRARY_PACKAGES


def may_be_project_function(qualified: str) -> bool:
    """A lower-case name of a module that is neither the standard library nor a well-known
    package: a helper of the project (``utils.train_epoch``), as far as one file can tell."""
    name = qualified.rsplit(".", 1)[-1]
    return "." in qualified and name[:1].islower() and not is_library_module(qualified)
