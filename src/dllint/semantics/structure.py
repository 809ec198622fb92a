"""Where a node sits in the code: its parents, its statement, the block and indentation around
it, and the uses of a local name. What a fix needs to know to add or remove code in the right
place (the rest of the layer answers what the code *means*).

Built on first use, from one walk of the module (only files whose findings offer a fix that
asks pay for it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterator, Optional, Union

import libcst as cst

from dllint.semantics.grad_mode import grad_switch
from dllint.semantics.syntax import bind_arguments, children_of

if TYPE_CHECKING:
    from dllint.semantics import FileSemantics

Statement = Union[cst.SimpleStatementLine, cst.BaseCompoundStatement]
_SCOPES = (cst.FunctionDef, cst.Lambda, cst.ClassDef)


class Structure:
    def __init__(self, sem: "FileSemantics") -> None:
        self.sem = sem
        self._parents: dict[int, cst.CSTNode] = {}
        stack: list[cst.CSTNode] = [sem.module]
        while stack:
            node = stack.pop()
            for child in children_of(node):
                self._parents[id(child)] = node
                stack.append(child)

    # --- parents ---------------------------------------------------------------------------

    def parent(self, node: cst.CSTNode) -> Optional[cst.CSTNode]:
        return self._parents.get(id(node))

    def ancestors(self, node: cst.CSTNode) -> Iterator[cst.CSTNode]:
        current = self.parent(node)
        while current is not None:
            yield current
            current = self.parent(current)

    def statement(self, node: cst.CSTNode) -> Optional[Statement]:
        """The statement a node belongs to (a simple statement line or a compound statement)."""
        for current in (node, *self.ancestors(node)):
            if isinstance(current, (cst.SimpleStatementLine, cst.BaseCompoundStatement)):
                return current
        return None

    def scope_node(self, node: cst.CSTNode) -> Union[cst.FunctionDef, cst.Module]:
        """The function whose body holds the node, or the module."""
        for current in self.ancestors(node):
            if isinstance(current, cst.FunctionDef):
                return current
        return self.sem.module

    def enclosing(self, node: cst.CSTNode, kinds: tuple[type, ...]) -> Iterator[cst.CSTNode]:
        """The node's ancestors of the given kinds, innermost first, within its function."""
        for current in self.ancestors(node):
            if isinstance(current, _SCOPES):
                return
            if isinstance(current, kinds):
                yield current

    def no_grad_block(self, node: cst.CSTNode) -> Optional[cst.With]:
        """The innermost ``with torch.no_grad():`` (or ``inference_mode()``, ``set_grad_enabled(False)``)
        around a node, within its function; None when a ``with torch.enable_grad():`` inside it
        is nearer."""
        site_scope = None
        for current in self.enclosing(node, (cst.With,)):
            if site_scope is None:
                site_scope = self._scope_at(node)
            if site_scope is None:
                return None
            switches = [grad_switch(item.item, site_scope) for item in current.items]  # type: ignore[attr-defined]
            switch = next((switch for switch in reversed(switches) if switch is not None), None)
            if switch is not None:
                return current if switch else None  # type: ignore[return-value]
        return None

    def top_statement(self, node: cst.CSTNode, within: cst.CSTNode) -> Optional[cst.BaseStatement]:
        """The statement of ``within``'s own body (a function, a loop, a ``with``) that holds ``node``."""
        body = getattr(within, "body", None)
        statements = body.body if isinstance(body, cst.IndentedBlock) else body if isinstance(within, cst.Module) else None
        if statements is None:
            return None
        wanted = {id(statement) for statement in statements}
        for current in (node, *self.ancestors(node)):
            if id(current) in wanted:
                return current  # type: ignore[return-value]
        return None

    def _scope_at(self, node: cst.CSTNode):
        for current in (node, *self.ancestors(node)):
            if isinstance(current, cst.Call):
                site = self.sem.site_of(current)
                if site is not None:
                    return site.scope
        return None

    # --- blocks and lines ------------------------------------------------------------------

    def body_statements(self, owner: cst.CSTNode) -> Optional[list[cst.BaseStatement]]:
        """The statements of a function's, loop's or ``with``'s indented body; None when the
        body is on the same line as its header (``for x in y: step()``)."""
        body = getattr(owner, "body", None)
        if isinstance(body, cst.IndentedBlock):
            return list(body.body)
        return None

    def first_statement(self, function: cst.FunctionDef) -> Optional[cst.BaseStatement]:
        """The first statement of a function's body after its docstring (None if the body is
        on the header's line or holds only a docstring)."""
        statements = self.body_statements(function)
        if not statements:
            return None
        first = statements[0]
        if (
            isinstance(first, cst.SimpleStatementLine)
            and len(first.body) == 1
            and isinstance(first.body[0], cst.Expr)
            and isinstance(first.body[0].value, (cst.SimpleString, cst.ConcatenatedString))
        ):
            return statements[1] if len(statements) > 1 else None
        return first

    def indentation(self, statement: cst.CSTNode) -> Optional[str]:
        """The whitespace before a statement on its line; None when something else precedes it
        there (``x = 1; y = 2``: a new line cannot be inserted before ``y``)."""
        span = self.sem.positions().get(statement)
        if span is None:
            return None
        lines = self.sem.text.splitlines()
        if span.start.line > len(lines):
            return None
        prefix = lines[span.start.line - 1][: span.start.column]
        return prefix if not prefix.strip() else None

    def exits_early(self, block_owner: cst.CSTNode) -> bool:
        """Whether a statement's body may leave it other than by its end: ``return``,
        ``break``, ``continue``, ``raise``, ``yield`` (code after it would not run then)."""
        stack = list(children_of(block_owner))
        while stack:
            node = stack.pop()
            if isinstance(node, _SCOPES):
                continue
            if isinstance(node, (cst.Return, cst.Break, cst.Continue, cst.Raise, cst.Yield)):
                return True
            stack.extend(children_of(node))
        return False

    # --- names -----------------------------------------------------------------------------

    def name_uses(self, owner: cst.CSTNode, name: str) -> tuple[list[cst.Name], list[cst.Name]]:
        """(stores, loads) of ``name`` anywhere under ``owner`` (nested functions included, so
        a closure's use counts): a store binds the name (assignment and loop targets, ``as``
        names, ``del``, augmented assignment — which also loads it), a load reads it.
        Attribute names, keyword names and parameters are neither."""
        stores: list[cst.Name] = []
        loads: list[cst.Name] = []
        stack = [owner]
        while stack:
            node = stack.pop()
            children = children_of(node)
            stack.extend(children)
            if not isinstance(node, cst.Name) or node.value != name:
                continue
            role = self._role(node)
            if role == "store":
                stores.append(node)
            elif role == "load":
                loads.append(node)
            elif role == "both":
                stores.append(node)
                loads.append(node)
        return stores, loads

    def _role(self, name: cst.Name) -> str:
        parent = self.parent(name)
        if isinstance(parent, cst.Attribute) and parent.attr is name:
            return "none"
        if isinstance(parent, cst.Arg) and parent.keyword is name:
            return "none"
        if isinstance(parent, (cst.Param, cst.FunctionDef, cst.ClassDef, cst.ImportAlias)) and getattr(parent, "name", None) is name:
            return "none"
        if isinstance(parent, (cst.Global, cst.Nonlocal, cst.NameItem)):
            return "none"
        if isinstance(parent, cst.AugAssign) and parent.target is name:
            return "both"
        if isinstance(parent, cst.Del):
            return "store"
        child: cst.CSTNode = name
        while isinstance(parent, (cst.Element, cst.StarredElement, cst.Tuple, cst.List)):
            child, parent = parent, self.parent(parent)  # unpacking: ``a, (b, *c) = ...``
        if isinstance(parent, cst.AsName) and parent.name is child:
            return "store"
        if isinstance(parent, (cst.AssignTarget, cst.AnnAssign, cst.NamedExpr, cst.For, cst.CompFor)) and parent.target is child:
            return "store"
        return "load"

    def prediction_of(self, node: cst.CSTNode) -> Optional[cst.Call]:
        """The call that receives ``node`` directly as its first positional argument or as
        ``input=`` (a loss's prediction), if any."""
        arg = self.parent(node)
        call = self.parent(arg) if isinstance(arg, cst.Arg) else None
        if not isinstance(call, cst.Call) or arg.value is not node:
            return None
        return call if bind_arguments(call, ("input",)).get("input") is node else None
