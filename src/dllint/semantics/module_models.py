"""Models held by module-level variables, as the functions that read them see them.

A function that runs ``detection(img)``, where ``detection`` is a module-level variable, finds
the model in the mode the module body left it in when the function is called: in a script or a
notebook (cells run in order), the statements above the call have run. The evaluator follows
the calls the module body makes (``masks = predict(img)`` after ``detection.eval()``) with the
module's own state, so those views know the mode; the function's own run, as a root, cannot
know when it is called and starts from the model as its assignment built it. When the module
body calls the function, its views decide; a function only other files call (or none) is judged
from its own run.
"""

from __future__ import annotations

from typing import Sequence

import libcst as cst

from dllint.semantics.trace import Event, Trace


def reads_module_variable(event: Event) -> bool:
    """Whether the event's call, inside a function, runs a model held by a module-level
    variable the function does not rebind (``detection(img)``, ``detection.backbone(x)``)."""
    site = event.site
    if site is None or site.scope.kind == "module":
        return False
    root = site.node.func
    while type(root) is cst.Attribute:
        root = root.value
    if type(root) is not cst.Name:
        return False
    bindings = site.scope.lookup(root.value)
    module_bindings = site.scope.module.scope.bindings.get(root.value)
    return bindings is not None and bindings is module_bindings and any(b.kind == "assign" for b in bindings)


def deciding_views(views: Sequence[tuple[Trace, Event]]) -> list[Event]:
    """Of one call's views (one per run that reaches it), those that say the mode of the model
    it runs: all of them, except for a module-level model run inside a function the module body
    calls — then only the module body's views (the mode at each of its calls)."""
    module_views = [event for trace, event in views if trace.root is None]
    if module_views and any(reads_module_variable(event) for _, event in views):
        return module_views
    return [event for _, event in views]
