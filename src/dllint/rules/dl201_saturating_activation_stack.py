from __future__ import annotations

from typing import Callable, Iterator

from dllint.rules.base import Option, Report, Rule
from dllint.semantics import FileSemantics, Layer, Tensor, describe, is_merge
from dllint.semantics.weights import feeding_raw_products, trace_graphs


class SaturatingActivationStack(Rule):
    """
    ## What it does
    Flags a deep stack that uses sigmoid or tanh as its *hidden* activation: more than
    `max-saturating` (default 2) sigmoid/tanh activations between layers with weights on one
    path through the network, with no normalisation layer or residual connection between
    them. It follows the activation through names (`ACT = torch.tanh`, one `self.act =
    nn.Sigmoid()` applied after every layer), loops over `nn.ModuleList`s, and
    `nn.Sequential`s built from lists. Raw weights count as layers: trainable tensors applied
    with `x @ W`, `torch.mm`, `torch.matmul` or `F.linear`, in a model class or in from-scratch
    module-level code (`H = torch.sigmoid(X @ W1 + b1)`); plain tensors nothing trains do not.

    Sigmoid and tanh used as *gates* are not hidden activations and are never counted: a
    sigmoid whose output multiplies something (`x * torch.sigmoid(g)`, squeeze-and-excitation,
    CBAM, GLU), the gates and cell update of a hand-written LSTM/GRU cell, `nn.LSTM`/`nn.GRU`
    themselves, and a sigmoid/tanh on the network's output.

    Not judged: files that publish trained weights for their models (a Hugging Face
    `PreTrainedModel` family, timm's `@register_model`, torchvision's `WeightsEnum`, weights
    downloaded by URL, a pretrained zoo model's state dict loaded into the file's model,
    checkpoints the file downloads and then loads from the same path or directory:
    `urlretrieve(url, os.path.join(CKPT_DIR, name))` then
    `Model.load_from_checkpoint(os.path.join(CKPT_DIR, name))`):
    the checkpoints fix their architecture, and a change would break
    loading them.

    Not judged either, in a notebook: networks it only demonstrates — builds, prints, runs
    forward, initialises or inspects, but never trains (no optimizer gets their parameters, no
    training loop runs them, they are not saved, and they are not handed to code dllint cannot
    see into, such as a book's training helper). A notebook cannot be imported, so nobody else
    trains them either.

    ## Why is this bad?
    Backpropagation multiplies the local derivative of every activation on the path. The
    sigmoid's derivative is at most 0.25 and tanh's at most 1, and both are almost 0 once the
    input leaves the narrow region around 0 (saturation). Through a few such layers the
    gradient reaching the first layers shrinks geometrically — the vanishing gradient problem
    — so the early layers barely learn (Glorot & Bengio, 2010). The usual cures are exactly
    what this rule looks for: ReLU-family activations, batch normalisation between the
    layers (Ioffe & Szegedy, 2015), or residual connections (He et al., 2016).

    ## Example
    ```python
    import torch.nn as nn

    model = nn.Sequential(
        nn.Linear(784, 256), nn.Sigmoid(),
        nn.Linear(256, 256), nn.Sigmoid(),
        nn.Linear(256, 256), nn.Sigmoid(),
        nn.Linear(256, 10),
    )
    ```

    ## Use instead
    ```python
    import torch.nn as nn

    model = nn.Sequential(
        nn.Linear(784, 256), nn.ReLU(),
        nn.Linear(256, 256), nn.ReLU(),
        nn.Linear(256, 256), nn.ReLU(),
        nn.Linear(256, 10),
    )
    ```

    ## Options
    - `max-saturating` (int, default 2): how many hidden sigmoid/tanh activations one path may
      stack before the rule fires. Shallow nets (one or two hidden layers, as in classic
      tabular models) are fine with tanh; raise it if your stacks are deliberately deeper and
      normalised in a way dllint cannot see.

    ## References
    - Glorot & Bengio, [Understanding the difficulty of training deep feedforward neural networks](https://proceedings.mlr.press/v9/glorot10a.html), AISTATS 2010 (saturating sigmoid units in deep networks)
    - Bengio, Simard & Frasconi, [Learning long-term dependencies with gradient descent is difficult](https://doi.org/10.1109/72.279181), IEEE Transactions on Neural Networks 1994 (vanishing gradients)
    - Ioffe & Szegedy, [Batch Normalization: Accelerating Deep Network Training by Reducing Internal Covariate Shift](https://arxiv.org/abs/1502.03167), ICML 2015
    - He, Zhang, Ren & Sun, [Deep Residual Learning for Image Recognition](https://arxiv.org/abs/1512.03385), CVPR 2016
    - [PyTorch: torch.nn.Sigmoid](https://pytorch.org/docs/stable/generated/torch.nn.Sigmoid.html)
    - [PyTorch: torch.nn.Tanh](https://pytorch.org/docs/stable/generated/torch.nn.Tanh.html)
    - Runtime counterparts: DLP001 vanishing-gradient, DLP004 saturated-activation (`dllint probe`)
    """

    code = "DL201"
    name = "saturating-activation-stack"
    summary = "Sigmoid/tanh as the hidden activation of a deep stack"
    judges_architecture = True
    options = {
        "max-saturating": Option(2, "Hidden sigmoid/tanh activations allowed on one path before flagging", minimum=0),
    }

    def check(self, sem: FileSemantics) -> Iterator[Report]:
        limit = self.settings["max-saturating"]
        graphs = [(graph, graph.hidden) for graph in sem.all_graphs()]
        for graph in trace_graphs(sem):
            # Module-level code and plain functions: the activations between raw weights'
            # products (layers are judged in their own forward passes and Sequentials).
            feeding = feeding_raw_products(sem, graph)
            if feeding:
                graphs.append((graph, lambda tensor, feeding=feeding: id(tensor) in feeding))
        stacks = []
        for graph, hidden in graphs:
            stack = _deepest_stack(graph, hidden)
            if len(stack) > limit:
                stacks.append(stack)
        # Longest first: a stack that is part of a longer one already reported (the decoder's
        # three tanh inside the encoder–decoder path of six) is the same finding.
        reported: list[set[int]] = []
        for stack in sorted(stacks, key=len, reverse=True):
            nodes = {id(_node(tensor)) for tensor in stack}
            first = _site(stack)
            if first is None or any(nodes <= seen or id(first) in seen for seen in reported):
                continue
            reported.append(nodes)
            names = sorted({describe(t) for t in stack})
            yield Report(
                first,
                f"{len(stack)} {' / '.join(names)} activations are stacked as hidden activations on one path "
                f"(more than {limit}) with no normalisation or residual connection between them: their "
                "derivatives (≤ 0.25 for sigmoid) multiply, and the gradient vanishes before it reaches "
                "the first layers — use a ReLU-family activation, or add normalisation/residuals",
            )


def _node(tensor: Tensor):
    return tensor.target.node if isinstance(tensor.target, Layer) else tensor.node


def _site(stack: list[Tensor]):
    """Where the reader sees the stack: the first activation's constructor, unless that one
    activation module is applied several times (``self.act = nn.Tanh()`` reused after every
    layer) — then its first application in ``forward``."""
    first = stack[0]
    shared = isinstance(first.target, Layer) and sum(tensor.target is first.target for tensor in stack) > 1
    return first.node if shared and first.node is not None else _node(first)


def _deepest_stack(graph, hidden: Callable[[Tensor], bool]) -> list[Tensor]:
    """The longest run of hidden sigmoid/tanh activations on one path, in order."""
    runs: dict[int, list[Tensor]] = {}
    best: list[Tensor] = []
    for tensor in graph.tensors:
        incoming = [runs[id(source)] for source in tensor.inputs if id(source) in runs]
        run: list[Tensor] = max(incoming, key=len) if incoming else []
        op = tensor.module_op
        if (op is not None and op.kind in ("norm", "recurrent")) or is_merge(tensor):
            # a recurrent layer's gates are its own: activations before it and after it (one
            # decoding step's attention and the next's) are not layers of one deep stack
            run = []
        elif op is not None and op.saturating and hidden(tensor):
            run = run + [tensor]
        runs[id(tensor)] = run
        if len(run) > len(best):
            best = run
    return best

